"""Production connection security: Kafka TLS/SASL, Temporal TLS/mTLS/API key, SMTP STARTTLS
or implicit TLS with auth, the database password and sslmode; secrets as SecretStr, read from
``TALENTLOOP_<NAME>_FILE``, never printed by ``repr``, logs or ``talentloop doctor``.

The SMTP tests run against the project's SMTP sink with a certificate made here (a private CA
and a server certificate for 127.0.0.1), over real TLS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.net.transport import KafkaSSLTransport
from pydantic import SecretStr, ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from support.cli import talentloop
from temporalio.service import TLSConfig
from test_smtpsink import free_port, make_message

from activities.mail.smtp import SmtpSender
from activities.store.engine import normalize_url
from talentloop.dev.smtpsink import SmtpSink, read_maildir
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings, secret_fields
from talentloop.service.doctor import check_smtp
from talentloop.service.kafka import connection_config, make_admin
from talentloop.service.temporal import connect_options

# Implicit TLS (SMTPS) is TLS from the first byte, which aiosmtpd's AUTH check does not see.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SECRETS = {
    "smtp_password": "smtp-Secret-4711",
    "moodle_token": "moodle-Secret-0815",
    "database_password": "db-Secret-2342",
    "kafka_sasl_password": "sasl-Secret-1337",
    "kafka_ssl_key_password": "keypass-Secret-9001",
    "temporal_api_key": "tmprl-Secret-4242",
}


# -- certificates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A private CA and, signed by it, a server certificate for 127.0.0.1 / localhost and a
    client certificate; the client key is encrypted with ``SECRETS['kafka_ssl_key_password']``.
    """

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca)
        return ctx


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    hosts: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, password: str | None = None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return path


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("talentloop test CA", ca_key, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    issuer = (ca.subject, ca_key)
    return Pki(
        ca=_write_cert(folder / "ca.pem", ca),
        server_cert=_write_cert(
            folder / "server.pem", _issue("127.0.0.1", server_key, issuer, hosts=True)
        ),
        server_key=_write_key(folder / "server.key", server_key),
        client_cert=_write_cert(
            folder / "client.pem", _issue("talentloop-worker", client_key, issuer)
        ),
        client_key=_write_key(folder / "client.key", client_key, SECRETS["kafka_ssl_key_password"]),
    )


# -- secrets in settings -------------------------------------------------------------------


def all_secrets_settings(tmp_path: Path, **over: Any) -> Settings:
    values: dict[str, Any] = {
        **SECRETS,
        "database_url": "postgresql+psycopg://talentloop:in-url-Secret-77@127.0.0.1:1/x",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "talentloop",
        "smtp_username": "mailer",
        **over,
    }
    return private_settings(tmp_path, **values)


def test_every_secret_is_a_secretstr_and_masked_in_repr_str_and_json(tmp_path: Path) -> None:
    assert set(SECRETS) <= set(secret_fields(Settings))
    settings = all_secrets_settings(tmp_path, database_password=None)
    for name in SECRETS:
        if name != "database_password":
            assert isinstance(getattr(settings, name), SecretStr)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in [*SECRETS.values(), "in-url-Secret-77"]:
        assert secret not in shown
    assert "talentloop:***@127.0.0.1:1/x" in repr(settings)


def test_secrets_are_read_from_their_file_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(value + "\n")  # as `echo` writes it
        monkeypatch.setenv(f"TALENTLOOP_{name.upper()}_FILE", str(path))
    monkeypatch.setenv("TALENTLOOP_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TALENTLOOP_KAFKA_SASL_USERNAME", "talentloop")
    monkeypatch.chdir(tmp_path)  # no .env

    settings = Settings()

    for name, value in SECRETS.items():
        assert getattr(settings, name).get_secret_value() == value
    # A child process started with to_env() reads the same secrets, not a second source.
    child_env = settings.to_env()
    assert not [k for k in child_env if k.startswith("TALENTLOOP_") and k.endswith("_FILE")]
    monkeypatch.setattr("os.environ", child_env)
    again = Settings()
    assert again.kafka_sasl_password == settings.kafka_sasl_password


def test_a_secret_set_twice_or_unreadable_is_refused_in_one_line(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRETS["smtp_password"])
    both = {
        **settings.to_env(),
        "TALENTLOOP_SMTP_PASSWORD": "other-Secret-1",
        "TALENTLOOP_SMTP_PASSWORD_FILE": str(secret_file),
    }
    result = talentloop("doctor", env=both, cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "talentloop: bad setting: set TALENTLOOP_SMTP_PASSWORD or "
        "TALENTLOOP_SMTP_PASSWORD_FILE, not both"
    )
    assert SECRETS["smtp_password"] not in result.stderr + result.stdout

    missing = {**settings.to_env(), "TALENTLOOP_TEMPORAL_API_KEY_FILE": str(tmp_path / "nope")}
    del missing["TALENTLOOP_TEMPORAL_API_KEY"]
    result = talentloop("doctor", env=missing, cwd=tmp_path)
    assert result.exit_code == 2
    assert "TALENTLOOP_TEMPORAL_API_KEY_FILE: cannot read" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_doctor_prints_no_secret_even_when_every_check_fails(tmp_path: Path) -> None:
    dead = free_port()
    settings = all_secrets_settings(
        tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_bootstrap=f"127.0.0.1:{dead}",
        temporal_address=f"127.0.0.1:{dead}",
        smtp_port=dead,
        lms_adapter="moodle",
        # A server that quotes its URL back puts the token in an error: doctor scrubs it.
        moodle_url=f"http://127.0.0.1:{dead}/{SECRETS['moodle_token']}",
    )
    result = talentloop("doctor", env=settings.to_env(), cwd=tmp_path)
    assert result.exit_code == 1
    output = result.stdout + result.stderr
    for component in ("temporal", "kafka", "smtp", "database", "lms"):
        assert f"{component}" in output
    assert "NOT READY" in output
    for secret in [*SECRETS.values(), "in-url-Secret-77"]:
        assert secret not in output
    assert "***" in output  # the Moodle URL, shown with its token masked


def test_kafka_clients_log_their_configuration_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = all_secrets_settings(
        tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
    )
    with caplog.at_level(logging.DEBUG, logger="kafka"), pytest.raises(KafkaError):
        make_admin(settings, timeout_ms=300)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sasl_plain_password" in logged  # kafka-python logs its configuration...
    assert SECRETS["kafka_sasl_password"] not in logged  # ...with the password masked


# -- Kafka -----------------------------------------------------------------------------------


def test_plaintext_kafka_gets_no_security_arguments(tmp_path: Path) -> None:
    settings = private_settings(tmp_path, kafka_bootstrap="k1:9092,k2:9092")
    assert connection_config(settings) == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_scram_with_mtls_gives_kafka_python_every_argument(
    tmp_path: Path, pki: Pki
) -> None:
    settings = private_settings(
        tmp_path,
        kafka_bootstrap="broker:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="talentloop",
        kafka_sasl_password=SECRETS["kafka_sasl_password"],
        kafka_ssl_ca_path=pki.ca,
        kafka_ssl_cert_path=pki.client_cert,
        kafka_ssl_key_path=pki.client_key,
        kafka_ssl_key_password=SECRETS["kafka_ssl_key_password"],
    )
    config = connection_config(settings)
    assert config == {
        "bootstrap_servers": "broker:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "talentloop",
        "sasl_plain_password": SECRETS["kafka_sasl_password"],
        "ssl_cafile": str(pki.ca),
        "ssl_certfile": str(pki.client_cert),
        "ssl_keyfile": str(pki.client_key),
        "ssl_password": SECRETS["kafka_ssl_key_password"],
        "ssl_check_hostname": True,
    }
    for client in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert set(config) <= set(client.DEFAULT_CONFIG), client.__name__
    # kafka-python builds its TLS context from them: the CA, and the encrypted client key
    # opened with its password.
    ssl_config = {**KafkaSSLTransport.DEFAULT_CONFIG}
    ssl_config.update((k, v) for k, v in config.items() if k in ssl_config)
    context = KafkaSSLTransport._build_ssl_context(ssl_config)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "talentloop test CA"),),)
    ]


@pytest.mark.parametrize(
    ("protocol", "mechanism", "keys"),
    [
        ("SSL", "PLAIN", {"ssl_check_hostname", "ssl_cafile"}),
        ("SASL_PLAINTEXT", "SCRAM-SHA-256", {"sasl_mechanism", "sasl_plain_username"}),
        ("SASL_SSL", "PLAIN", {"ssl_check_hostname", "ssl_cafile", "sasl_mechanism"}),
    ],
)
def test_each_protocol_carries_only_its_own_arguments(
    tmp_path: Path, pki: Pki, protocol: str, mechanism: str, keys: set[str]
) -> None:
    settings = private_settings(
        tmp_path,
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="u",
        kafka_sasl_password="p",
        kafka_ssl_ca_path=pki.ca,
    )
    config = connection_config(settings)
    assert config["security_protocol"] == protocol
    assert keys <= set(config)
    assert ("sasl_plain_password" in config) == protocol.startswith("SASL_")
    assert ("ssl_cafile" in config) == protocol.endswith("SSL")
    if "sasl_mechanism" in config:
        assert config["sasl_mechanism"] == mechanism


def test_sasl_without_credentials_is_refused_naming_the_variables(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TALENTLOOP_KAFKA_SASL_USERNAME"):
        private_settings(tmp_path, kafka_security_protocol="SASL_SSL")


# -- Temporal --------------------------------------------------------------------------------


def test_temporal_without_security_dials_plain(tmp_path: Path) -> None:
    options = connect_options(private_settings(tmp_path, temporal_namespace="hr"))
    assert options["namespace"] == "hr"
    assert options["tls"] is False
    assert "api_key" not in options


def test_temporal_mtls_reads_the_ca_and_client_pair(tmp_path: Path, pki: Pki) -> None:
    settings = private_settings(
        tmp_path,
        temporal_namespace="talentloop.a1b2c",
        temporal_tls_ca_path=pki.ca,
        temporal_tls_cert_path=pki.client_cert,
        temporal_tls_key_path=pki.server_key,
        temporal_tls_server_name="temporal.internal",
    )
    options = connect_options(settings)
    assert options["namespace"] == "talentloop.a1b2c"
    assert options["tls"] == TLSConfig(
        server_root_ca_cert=pki.ca.read_bytes(),
        client_cert=pki.client_cert.read_bytes(),
        client_private_key=pki.server_key.read_bytes(),
        domain="temporal.internal",
    )


def test_temporal_cloud_api_key_turns_tls_on_with_the_system_roots(tmp_path: Path) -> None:
    settings = private_settings(
        tmp_path,
        temporal_address="eu-west-1.aws.api.temporal.io:7233",
        temporal_namespace="talentloop.a1b2c",
        temporal_api_key=SECRETS["temporal_api_key"],
    )
    options = connect_options(settings)
    assert options["api_key"] == SECRETS["temporal_api_key"]
    assert options["tls"] == TLSConfig()
    # TLS can still be turned off explicitly (an API key through a TLS-terminating proxy).
    plain = private_settings(tmp_path, temporal_api_key="k", temporal_tls=False)
    assert connect_options(plain)["tls"] is False


def test_temporal_client_cert_without_key_is_refused(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ValidationError, match="TALENTLOOP_TEMPORAL_TLS_KEY_PATH"):
        private_settings(tmp_path, temporal_tls_cert_path=pki.client_cert)


# -- database --------------------------------------------------------------------------------


def test_database_password_goes_into_the_url_and_sslmode_is_kept(tmp_path: Path) -> None:
    settings = private_settings(
        tmp_path,
        database_url="postgresql+psycopg://talentloop@db:5432/talentloop?sslmode=verify-full",
        database_password="p@ss/w:rd",
    )
    assert settings.db_url == (
        "postgresql+psycopg://talentloop:p%40ss%2Fw%3Ard@db:5432/talentloop?sslmode=verify-full"
    )
    assert settings.db_url_safe == (
        "postgresql+psycopg://talentloop:***@db:5432/talentloop?sslmode=verify-full"
    )


def _postgres_reachable() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


@pytest.mark.skipif(not _postgres_reachable(), reason="no PostgreSQL at 127.0.0.1:5432")
def test_sslmode_in_the_url_reaches_the_postgresql_driver(tmp_path: Path) -> None:
    base = "postgresql://postgres@127.0.0.1:5432/postgres"
    plain = private_settings(
        tmp_path, database_url=f"{base}?sslmode=disable", database_password="x"
    )
    engine = create_engine(normalize_url(plain.db_url))
    try:
        with engine.connect() as conn:
            ssl_on = conn.execute(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).scalar_one()
    finally:
        engine.dispose()
    assert ssl_on is False
    # The machine's server speaks no TLS: a URL that requires it must not fall back to plain.
    strict = private_settings(tmp_path, database_url=f"{base}?sslmode=require")
    if not _server_ssl(base):
        engine = create_engine(normalize_url(strict.db_url))
        with pytest.raises(OperationalError, match="SSL"), engine.connect():
            pass
        engine.dispose()


def _server_ssl(base: str) -> bool:
    engine = create_engine(normalize_url(base))
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SHOW ssl")).scalar_one() == "on")
    finally:
        engine.dispose()


# -- SMTP ------------------------------------------------------------------------------------

USER, PASSWORD = "mailer", SECRETS["smtp_password"]


@pytest.fixture
def starttls_sink(tmp_path: Path, pki: Pki) -> Iterator[SmtpSink]:
    sink = SmtpSink(
        tmp_path / "maildir",
        port=free_port(),
        starttls_context=pki.server_context(),
        credentials={USER: PASSWORD},
    )
    with sink:
        yield sink


@pytest.fixture
def smtps_sink(tmp_path: Path, pki: Pki) -> Iterator[SmtpSink]:
    sink = SmtpSink(
        tmp_path / "maildir",
        port=free_port(),
        ssl_context=pki.server_context(),
        credentials={USER: PASSWORD},
    )
    with sink:
        yield sink


async def test_mail_goes_out_over_starttls_with_a_login(starttls_sink: SmtpSink, pki: Pki) -> None:
    sender = SmtpSender(
        "127.0.0.1", starttls_sink.port, USER, PASSWORD, starttls=True, ca_path=pki.ca
    )
    await sender.send(make_message("over STARTTLS", "body"))
    await sender.close()
    assert [m["Subject"] for m in read_maildir(starttls_sink.maildir)] == ["over STARTTLS"]


async def test_the_relay_refuses_a_wrong_password_a_plain_session_and_an_untrusted_cert(
    starttls_sink: SmtpSink, pki: Pki
) -> None:
    wrong = SmtpSender("127.0.0.1", starttls_sink.port, USER, "nope", starttls=True, ca_path=pki.ca)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await wrong.send(make_message("wrong password", "body"))
    plain = SmtpSender("127.0.0.1", starttls_sink.port, USER, PASSWORD)
    with pytest.raises(aiosmtplib.SMTPException):
        await plain.send(make_message("no TLS", "body"))
    untrusted = SmtpSender("127.0.0.1", starttls_sink.port, USER, PASSWORD, starttls=True)
    with pytest.raises((aiosmtplib.SMTPException, ssl.SSLError), match="CERTIFICATE_VERIFY"):
        await untrusted.send(make_message("untrusted", "body"))
    assert read_maildir(starttls_sink.maildir) == []


async def test_mail_goes_out_over_implicit_tls(smtps_sink: SmtpSink, pki: Pki) -> None:
    sender = SmtpSender("127.0.0.1", smtps_sink.port, USER, PASSWORD, use_tls=True, ca_path=pki.ca)
    await sender.send(make_message("over SMTPS", "body"))
    await sender.close()
    assert [m["Subject"] for m in read_maildir(smtps_sink.maildir)] == ["over SMTPS"]


def test_doctor_checks_starttls_and_login_and_never_shows_the_password(
    tmp_path: Path, starttls_sink: SmtpSink, pki: Pki
) -> None:
    settings = private_settings(
        tmp_path,
        smtp_port=starttls_sink.port,
        smtp_starttls=True,
        smtp_ca_path=pki.ca,
        smtp_username=USER,
        smtp_password=PASSWORD,
    )
    check = check_smtp(settings)
    assert check.ok, check.detail
    assert check.detail.endswith("EHLO, STARTTLS, AUTH ok")

    wrong = Settings(**{**settings.model_dump(), "smtp_password": "Wrong-Secret-5"})
    check = check_smtp(wrong)
    assert not check.ok
    assert "authentication refused" in check.detail
    assert "Secret" not in check.detail + check.fix


def test_doctor_checks_implicit_tls(tmp_path: Path, smtps_sink: SmtpSink, pki: Pki) -> None:
    settings = private_settings(
        tmp_path,
        smtp_port=smtps_sink.port,
        smtp_ssl=True,
        smtp_ca_path=pki.ca,
        smtp_username=USER,
        smtp_password=PASSWORD,
    )
    check = check_smtp(settings)
    assert check.ok, check.detail
    assert check.detail.endswith("TLS, EHLO, AUTH ok")
    with pytest.raises(ValidationError, match="exclude each other"):
        private_settings(tmp_path, smtp_ssl=True, smtp_starttls=True)


def test_the_sink_without_tls_settings_still_accepts_any_login(tmp_path: Path) -> None:
    with (
        SmtpSink(tmp_path / "maildir", port=free_port()) as sink,
        smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp,
    ):
        smtp.login("anyone", "anything")
        smtp.send_message(make_message("dev", "body"))
    assert len(read_maildir(tmp_path / "maildir")) == 1
