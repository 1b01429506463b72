"""The one settings object, in groups: every address and option, from the environment and `.env`.

Every variable is the field name upper-cased with the prefix ``TALENTLOOP_``, e.g.
``TALENTLOOP_KAFKA_PORT=9192``. Nothing else in the code base hard-codes an address.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from activities.skills.onet import PACKAGED_ONET_DIR
from schemas.learning import EmployeeWorkflowInput, LearningPolicy, PolicySnapshot
from schemas.rollout import RolloutConfig
from talentloop.errors import UsageProblem


class DevStackSettings(BaseModel):
    """The embedded dev stack: where its state lives and the loopback ports it binds."""

    state_dir: Path = Field(Path(".talentloop"), description="Dev-stack state: pids, logs, data.")
    host: str = Field("127.0.0.1", description="Loopback address the dev stack binds to.")
    temporal_port: int = Field(7233, description="Temporal frontend (gRPC) port.")
    temporal_ui_port: int = Field(8233, description="Temporal Web UI port.")
    kafka_port: int = Field(9092, description="Kafka-protocol broker port.")
    smtp_port: int = Field(1025, description="SMTP port (the sink in dev).")

    @cached_property
    def maildir(self) -> Path:
        """Where the dev SMTP sink stores every message."""
        return self.state_dir / "maildir"

    @cached_property
    def temporal_ui_url(self) -> str:
        """The Temporal Web UI address."""
        return f"http://{self.host}:{self.temporal_ui_port}"


class TemporalSettings(BaseModel):
    """Temporal: the frontend, the namespace, the task queue and how workers run workflows."""

    temporal_address: str | None = Field(None, description="host:port; default host:temporal_port.")
    temporal_namespace: str = "default"
    task_queue: str = "talentloop"
    worker_workflow_tasks: int = Field(
        16,
        ge=1,
        description="Workflow tasks one worker runs at once (each with its local activities).",
    )
    workflow_sandbox: bool = Field(
        False,
        description="Run workflows in Temporal's sandbox (determinism checks at run time; "
        "the tests always do).",
    )


class KafkaSettings(BaseModel):
    """Kafka: the cluster, the topics, the bridge's consumer group and its limits."""

    kafka_bootstrap: str | None = Field(None, description="Bootstrap servers; default host:port.")
    topic_reviews: str = "hr.reviews"
    topic_objectives: str = "strategy.objectives"
    topic_completions: str = "lms.completions"
    topic_employees: str = "hr.employees"
    topic_goals: str = "hr.goals"
    topic_outbound: str = "talentloop.events"
    topic_dlq: str = "talentloop.dlq"
    topic_partitions: int = Field(4, ge=1, description="Partitions of each topic `setup` makes.")
    consumer_group: str = "talentloop-bridge"
    bridge_instance_id: str | None = Field(
        None,
        description="Static group membership: a bridge restarted with the same id takes its "
        "partitions back without a rebalance (no pause of a session timeout). Give each bridge "
        "its own stable id (e.g. a StatefulSet pod name); two live bridges must never share one.",
    )
    max_event_bytes: int = Field(256 * 1024, description="Larger events go to the DLQ.")
    event_past_days: float = Field(
        1827, gt=0, description="An event's dates may lie this long before its record's time."
    )
    event_future_days: float = Field(
        1, ge=0, description="An event's date-times may lie this long after its record's time."
    )
    event_planned_days: float = Field(
        3653, ge=0, description="A calendar date (a due date) may lie this long after it."
    )
    directory_cache_seconds: float = Field(
        60.0, gt=0, description="The bridge trusts an employee id it found for this long."
    )
    kafka_connect_timeout_ms: int = Field(30_000, description="Give up reaching the broker.")

    @cached_property
    def inbound_topics(self) -> list[str]:
        """The topics the bridge consumes."""
        return [
            self.topic_reviews,
            self.topic_objectives,
            self.topic_completions,
            self.topic_employees,
            self.topic_goals,
        ]


class MailSettings(BaseModel):
    """Mail: the SMTP relay and the sender."""

    smtp_host: str | None = Field(None, description="SMTP relay host; default host.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "talentloop <learning@talentloop.example>"


class LmsSettings(BaseModel):
    """The LMS: which adapter, the Moodle site, and how its calls are limited and polled."""

    lms_adapter: Literal["builtin", "moodle"] = Field("builtin", description="Which LMS.")
    moodle_url: str | None = Field(None, description="Moodle site URL (see docs/lms.md).")
    moodle_token: SecretStr | None = Field(None, description="Moodle web service token.")
    moodle_user_field: str = "idnumber"
    moodle_course_field: str = "idnumber"
    moodle_role_id: int = Field(5, description="Moodle role given on enrolment (5: student).")
    moodle_timeout_s: float = Field(20.0, gt=0, description="Seconds before a Moodle call fails.")
    moodle_calls_per_second: float = Field(
        5.0, ge=0, description="Moodle calls/s of one process (0: unlimited); see lms_rate_limit."
    )
    moodle_timeend_days_after_due: int | None = Field(
        None, description="End a Moodle enrolment this many days after its due date."
    )
    moodle_skill_field: str | None = Field(
        "skills", description="Course custom field listing the skills a course teaches."
    )
    moodle_skill_map: Path | None = Field(
        None, description="JSON mapping file: Moodle values, tags and courses to skills."
    )
    lms_sync_minutes: float = Field(60.0, gt=0, description="Catalog sync period (Schedule).")
    lms_task_queue: str = Field("talentloop-lms", description="Task queue of LMS calls.")
    lms_rate_limit: float | None = Field(None, description="LMS calls/s across all workers.")
    lms_max_concurrency: int = Field(8, description="LMS calls at once, per worker.")
    lms_poll_minutes: float = Field(5.0, description="Completion poll period (Schedule).")


class DataSettings(BaseModel):
    """The application database and the O*NET reference data."""

    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in state.")
    onet_dir: Path = Field(
        PACKAGED_ONET_DIR,
        description="O*NET text files (NAME.txt or NAME.txt.gz); default the O*NET 29.3 excerpt "
        "installed with the package. Point it at a newer release folder to use that.",
    )


# -- connection security ---------------------------------------------------------------------
# TLS, SASL, API keys and passwords for Kafka, Temporal, SMTP and the database. Every secret is
# a SecretStr (masked in repr, logs and `doctor`) and can be read from a file instead:
# TALENTLOOP_<NAME>_FILE=/run/secrets/... (the way container secrets are mounted).

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ConnectionSecuritySettings(BaseModel):
    """How every process authenticates to and encrypts its connections to the servers.

    Kafka: ``security_protocol`` PLAINTEXT / SSL / SASL_PLAINTEXT / SASL_SSL, SASL PLAIN or
    SCRAM, a CA, a client certificate and key. Temporal: TLS with a CA, mTLS with a client
    certificate and key, or an API key (Temporal Cloud). SMTP: implicit TLS (``smtp_starttls``
    is with the mail settings) and a CA. The database: a password beside the URL (whose
    ``sslmode`` / ``sslrootcert`` query parameters set its TLS).
    """

    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        "PLAIN", description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_ca_path: Path | None = Field(
        None, description="PEM CA bundle the brokers' certificates are checked against."
    )
    kafka_ssl_cert_path: Path | None = Field(None, description="PEM client certificate (mTLS).")
    kafka_ssl_key_path: Path | None = Field(None, description="PEM private key of the client.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of the client's private key, if it is encrypted."
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check that the broker's certificate names the host dialled."
    )

    temporal_tls: bool | None = Field(
        None,
        description="TLS to the Temporal frontend; default on when a CA, a client certificate "
        "or an API key is set.",
    )
    temporal_tls_ca_path: Path | None = Field(
        None, description="PEM CA of the frontend's certificate; default the system's roots."
    )
    temporal_tls_cert_path: Path | None = Field(None, description="PEM client certificate (mTLS).")
    temporal_tls_key_path: Path | None = Field(None, description="PEM client private key (mTLS).")
    temporal_tls_server_name: str | None = Field(
        None, description="Name the frontend's certificate must carry, if not the dialled host."
    )
    temporal_api_key: SecretStr | None = Field(
        None, description="API key (Temporal Cloud), sent as a bearer token over TLS."
    )

    smtp_ssl: bool = Field(
        False, description="Implicit TLS from the first byte (SMTPS, usually port 465)."
    )
    smtp_ca_path: Path | None = Field(
        None, description="PEM CA of the relay's certificate; default the system's roots."
    )

    database_password: SecretStr | None = Field(
        None, description="The database password, put into TALENTLOOP_DATABASE_URL's user part."
    )

    @model_validator(mode="after")
    def _consistent_security(self) -> ConnectionSecuritySettings:
        """Refuse combinations that cannot connect, naming the variables to fix."""
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"TALENTLOOP_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "TALENTLOOP_KAFKA_SASL_USERNAME and TALENTLOOP_KAFKA_SASL_PASSWORD"
            )
        if (self.temporal_tls_cert_path is None) != (self.temporal_tls_key_path is None):
            raise ValueError(
                "TALENTLOOP_TEMPORAL_TLS_CERT_PATH and TALENTLOOP_TEMPORAL_TLS_KEY_PATH go together"
            )
        if self.smtp_ssl and getattr(self, "smtp_starttls", False):
            raise ValueError(
                "TALENTLOOP_SMTP_SSL (implicit TLS) and TALENTLOOP_SMTP_STARTTLS exclude each other"
            )
        return self

    @property
    def temporal_tls_enabled(self) -> bool:
        """Whether the Temporal client dials with TLS."""
        if self.temporal_tls is not None:
            return self.temporal_tls
        return (
            self.temporal_tls_ca_path is not None
            or self.temporal_tls_cert_path is not None
            or self.temporal_api_key is not None
        )


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The names of the fields of ``model`` that hold a secret (typed ``SecretStr``)."""
    return [
        name for name, field in model.model_fields.items() if "SecretStr" in str(field.annotation)
    ]


class SecretFileSource(PydanticBaseSettingsSource):
    """Reads each secret from the file named by ``TALENTLOOP_<NAME>_FILE``, if that is set.

    The file's content less a trailing newline is the value. Setting both the variable and
    its ``_FILE`` variant is refused: one of them would be silently ignored.
    """

    def get_field_value(self, field: object, field_name: str) -> tuple[object, str, bool]:
        """Not used: `__call__` reads every secret at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, object]:
        """The secrets read from files, by field name."""
        found: dict[str, object] = {}
        for name in secret_fields(self.settings_cls):
            variable = f"TALENTLOOP_{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if os.environ.get(variable):
                raise UsageProblem(f"bad setting: set {variable} or {variable}_FILE, not both")
            try:
                found[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise UsageProblem(
                    f"bad setting {variable}_FILE: cannot read {path} ({exc.strerror or exc})"
                ) from None
        return found


class ConsoleSettings(BaseModel):
    """The HR ops console (`talentloop console`) and its read-model projector."""

    console_host: str = Field("127.0.0.1", description="Address the console listens on.")
    console_port: int = Field(8321, description="Port the console listens on.")
    console_secret_key: SecretStr | None = Field(
        None,
        description="Signs session cookies; default a random key kept in the state dir.",
    )
    console_secure_cookies: bool = Field(
        True, description="Secure cookies (HTTPS; browsers also send them to localhost)."
    )
    console_session_hours: float = Field(8.0, gt=0, description="How long a sign-in lasts.")
    console_trusted_user_header: str | None = Field(
        None,
        description="SSO: take the signed-in username from this request header (e.g. "
        "X-Forwarded-User). Only behind a proxy that sets it and strips it from clients.",
    )
    console_public_url: str | None = Field(
        None,
        description="The console's URL as people reach it (approval emails link to it); "
        "default http://console_host:console_port.",
    )
    projection_poll_seconds: float = Field(
        1.0, gt=0, description="How long the projector waits for new events per poll."
    )
    projection_sweep_seconds: float = Field(
        60.0, gt=0, description="How often the projector re-reads plans awaiting approval."
    )


class MetricsSettings(BaseModel):
    """Prometheus ``/metrics`` of the service processes (docs/monitoring.md); 0 = off."""

    metrics_host: str = Field("0.0.0.0", description="Address the metrics servers listen on.")
    metrics_bridge_port: int = Field(0, ge=0, description="The bridge's /metrics port.")
    metrics_worker_port: int = Field(
        0, ge=0, description="The worker's /metrics port; with --processes N, base + index."
    )
    metrics_temporal_port: int = Field(
        0,
        ge=0,
        description="The Temporal SDK's own metrics (worker); with --processes N, base + index.",
    )


class PlanPolicySettings(BaseModel):
    """The plan policy every employee workflow gets: due dates, approvals, reminders."""

    enrollment_due_days: int = Field(30, description="Due date after enrollment, no objective.")
    approval_hours_over: float | None = Field(16.0, description="More hours need approval.")
    approval_cost_over: float | None = Field(1000.0, description="More cost needs approval.")
    approval_sla_days: int = Field(5, description="Days before escalating, then the default.")
    approval_default: Literal["approve", "reject"] = "approve"
    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    escalate_overdue: bool = True
    hr_approver_id: str | None = Field(
        None,
        description="Employee id of the HR approver for employees whose manager is not known "
        "yet (a bulk onboarding's manager may join later).",
    )

    def learning_policy(self) -> LearningPolicy:
        """The plan policy handed to each employee workflow."""
        return LearningPolicy(
            due_days=self.enrollment_due_days,
            approval_hours_over=self.approval_hours_over,
            approval_cost_over=self.approval_cost_over,
            approval_sla_days=self.approval_sla_days,
            approval_default=self.approval_default,
            reminder_days=list(self.reminder_days),
            escalate_overdue=self.escalate_overdue,
            hr_approver_id=self.hr_approver_id,
        )


class DecisionSettings(BaseModel):
    """How gaps are decided and how much learning a plan may ask for (docs/decisions.md)."""

    assessment_policy: Literal[
        "manager_over_self", "latest", "highest", "recency_weighted_mean"
    ] = Field("manager_over_self", description="How evidence is aggregated into a level.")
    min_gap: float = Field(
        0.5, ge=0, description="Gaps under this many levels are rating noise (exactly it is not)."
    )
    learning_hours_per_month: float = Field(
        8.0, gt=0, description="Learning hours a plan may ask of an employee per month."
    )
    learning_load_policy: Path | None = Field(
        None, description="TOML file with per-department / per-role hours-per-month overrides."
    )


class RolloutSettings(BaseModel):
    """How strategy rollouts run: who approves, the approval SLA, the canary, the waves."""

    rollout_approvers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Employee ids (comma-separated) of the HR users who may approve, reject, "
        "pause, resume and cancel rollouts.",
    )
    rollout_approval_sla_hours: float = Field(48.0, gt=0, description="Hours, then escalation.")
    rollout_escalate_to: str | None = Field(None, description="Who an escalation names.")
    rollout_approval_default: Literal["approve", "reject"] = "reject"
    rollout_canary_share: float = Field(0.05, ge=0, le=1, description="Canary: this share ...")
    rollout_canary_count: int = Field(10, ge=0, description="... but at least this many.")
    rollout_wave_size: int = Field(500, ge=1, description="Employees per wave.")
    rollout_batch_size: int = Field(100, ge=1, description="Employees per signalling activity.")
    rollout_window: int = Field(32, ge=1, description="Signals in flight at once.")
    rollout_gate_max_failed_share: float = Field(0.1, ge=0, le=1)
    rollout_gate_wait_seconds: float = Field(1800.0, gt=0)
    rollout_gate_poll_seconds: float = Field(15.0, gt=0)
    rollout_history_events: int = Field(2000, ge=100)
    rollout_reconcile_hours: float = Field(
        24.0, gt=0, description="How often the reconciliation Schedule runs."
    )

    @field_validator("rollout_approvers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):  # as `to_env` writes it
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def rollout_config(self) -> RolloutConfig:
        """The rollout configuration every rollout workflow reads when it starts."""
        return RolloutConfig(
            approvers=tuple(self.rollout_approvers),
            approval_sla_hours=self.rollout_approval_sla_hours,
            escalate_to=self.rollout_escalate_to,
            approval_default=self.rollout_approval_default,
            canary_share=self.rollout_canary_share,
            canary_count=self.rollout_canary_count,
            wave_size=self.rollout_wave_size,
            batch_size=self.rollout_batch_size,
            window=self.rollout_window,
            gate_max_failed_share=self.rollout_gate_max_failed_share,
            gate_wait_seconds=self.rollout_gate_wait_seconds,
            gate_poll_seconds=self.rollout_gate_poll_seconds,
            history_events=self.rollout_history_events,
        )


class PrivacySettings(BaseModel):
    """Personal data in Temporal: the payload keys, and the codec server for the Temporal UI.

    With no payload key set, payloads are not encrypted (docs/privacy.md). Keys are secrets:
    ``TALENTLOOP_PAYLOAD_KEYS`` or ``TALENTLOOP_PAYLOAD_KEYS_FILE``; they are checked when a
    process connects to Temporal (`talentloop.service.temporal.payload_codec`), so that a
    validation error can never quote them.
    """

    payload_keys: SecretStr | None = Field(
        None,
        description="AES-256 keys that encrypt Temporal payloads: id:base64key pairs, "
        "comma-separated (old keys stay to read old payloads). None: no encryption.",
    )
    payload_key_id: str | None = Field(
        None, description="Id of the key new payloads are encrypted with (if several keys)."
    )
    codec_server_host: str = Field("127.0.0.1", description="Address the codec server binds.")
    codec_server_port: int = Field(8322, description="Port of the codec server.")
    codec_server_token: SecretStr | None = Field(
        None, description="Bearer token the Temporal UI must send to the codec server."
    )
    codec_server_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (comma-separated) of the Temporal UI allowed to call the codec "
        "server; default the dev stack's UI.",
    )

    @field_validator("codec_server_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):  # as `to_env` writes it
                return json.loads(value)
            return [v.strip().rstrip("/") for v in value.split(",") if v.strip()]
        return value


class Settings(
    DecisionSettings,
    RolloutSettings,
    DevStackSettings,
    TemporalSettings,
    KafkaSettings,
    MailSettings,
    LmsSettings,
    DataSettings,
    ConnectionSecuritySettings,
    PlanPolicySettings,
    ConsoleSettings,
    PrivacySettings,
    MetricsSettings,
    BaseSettings,
):
    """Addresses, topic names and options for every talentloop process.

    The fields are grouped by what they configure (one class per group above); each is read
    from its own environment variable, ``TALENTLOOP_`` + the field name upper-cased.
    """

    model_config = SettingsConfigDict(
        env_prefix="TALENTLOOP_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        env_parse_none_str="null",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then secrets from ``TALENTLOOP_<NAME>_FILE``, environment, `.env`."""
        return (
            init_settings,
            SecretFileSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )

    @field_serializer("database_url", when_used="json")
    def _database_url_json(self, url: str | None) -> str | None:
        """In JSON, like a SecretStr: the database URL's password masked."""
        return hide_url_password(url) if url else url

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields for `repr`: secrets masked, and a password inside the database URL too."""
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                value = hide_url_password(value)
            yield name, value

    def to_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment variables that make a child process read exactly these settings."""
        env = dict(os.environ if base is None else base)
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env.pop(f"TALENTLOOP_{name.upper()}_FILE", None)  # the value itself is set below
            if value is None:
                env[f"TALENTLOOP_{name.upper()}"] = "null"
            elif isinstance(value, bool):
                env[f"TALENTLOOP_{name.upper()}"] = str(value).lower()
            elif isinstance(value, list):
                env[f"TALENTLOOP_{name.upper()}"] = json.dumps(value)
            else:
                env[f"TALENTLOOP_{name.upper()}"] = str(value)
        return env

    @property
    def lms_calls_local(self) -> bool:
        """Whether the workflows call the LMS as local activities, not on the LMS task queue.

        The built-in LMS is the worker's own database, so without a rate limit nothing needs
        the LMS task queue's protection. A remote LMS (Moodle), or any LMS with a rate limit,
        is called on the LMS task queue so that its limits hold across all workers.
        """
        return self.lms_adapter == "builtin" and self.lms_rate_limit is None

    def policy_snapshot(self) -> PolicySnapshot:
        """The policy and LMS call mode running employee workflows read (`policy.current`)."""
        from activities.skills.load import read_load_policy

        load = read_load_policy(self.learning_load_policy, self.learning_hours_per_month)
        policy = self.learning_policy().model_copy(
            update={
                "hours_per_month": load.hours_per_month,
                "hours_by_department": dict(load.departments),
                "hours_by_role": dict(load.roles),
            }
        )
        mode = {"queue": self.lms_task_queue, "local": self.lms_calls_local}
        digest = hashlib.sha256(
            json.dumps([policy.model_dump(mode="json"), mode], sort_keys=True).encode()
        ).hexdigest()[:12]
        return PolicySnapshot(
            policy=policy,
            lms_task_queue=self.lms_task_queue,
            lms_local=self.lms_calls_local,
            version=digest,
        )

    def employee_workflow_input(self, employee_id: str) -> EmployeeWorkflowInput:
        """The start input of an employee's workflow, as the bridge hands it over."""
        return EmployeeWorkflowInput(
            employee_id=employee_id,
            policy=self.learning_policy(),
            lms_task_queue=self.lms_task_queue,
            lms_local=self.lms_calls_local,
        )

    @cached_property
    def temporal_target(self) -> str:
        """The Temporal frontend address the client dials."""
        return self.temporal_address or f"{self.host}:{self.temporal_port}"

    @cached_property
    def kafka_servers(self) -> str:
        """The Kafka bootstrap servers."""
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @cached_property
    def smtp_server(self) -> str:
        """The SMTP host mail is sent through."""
        return self.smtp_host or self.host

    @cached_property
    def db_url(self) -> str:
        """The application database URL, with `database_password` put in when it is set.

        It carries the password: hand it to the engine, never print it (`db_url_safe` is
        for printing).
        """
        url = self.database_url or f"sqlite:///{self.state_dir.resolve() / 'talentloop.db'}"
        if self.database_password is None:
            return url
        from sqlalchemy.engine import make_url

        with_password = make_url(url).set(password=self.database_password.get_secret_value())
        return with_password.render_as_string(hide_password=False)

    @property
    def db_url_safe(self) -> str:
        """The application database URL with its password masked, for messages and logs."""
        return hide_url_password(self.db_url)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, in plain text (to scrub them from output)."""
        values = [
            value.get_secret_value()
            for name in secret_fields(type(self))
            if isinstance(value := getattr(self, name), SecretStr)
        ]
        password = _url_password(self.db_url)
        if password:
            values.append(password)
        return sorted({v for v in values if v}, key=len, reverse=True)


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except ArgumentError:
        return None


def hide_url_password(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)
