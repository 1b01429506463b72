"""`talentloop doctor`: is the configured deployment ready? One row per component.

Each check makes a few short calls with a timeout and never changes anything (the database is
not migrated, no topic or Schedule is created): what is missing is reported with the command
that fixes it, usually `talentloop setup`. Secrets are never printed.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from kafka.admin import OffsetSpec
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from activities.lms.moodle import FUNCTIONS, SITE_INFO, MoodleLms
from activities.lms.port import LmsError
from activities.mail.smtp import tls_context
from activities.skills.onet import OnetDataMissing, load_onet, verify_manifest
from activities.store.engine import normalize_url
from activities.store.migrate import current_revisions, head_revisions
from activities.store.tables import CourseRow
from talentloop.service.config import Settings
from talentloop.service.kafka import TopicsReport, make_admin, topic_partitions, wanted_topics
from talentloop.service.lms_adapter import moodle_config
from talentloop.service.schedules import missing_schedules
from talentloop.service.temporal import connect
from workflows import search_attributes

TIMEOUT_S: Final = 5.0
"""How long one component may take to answer before its row fails."""

SETUP: Final = "run `talentloop setup`"


@dataclass(frozen=True)
class Check:
    """The verdict on one component.

    Attributes:
        component: ``temporal``, ``kafka``, ``smtp``, ``database``, ``lms`` or ``onet``.
        ok: Whether it is ready.
        detail: What was found, in one line.
        fix: How to make it ready, when it is not.

    """

    component: str
    ok: bool
    detail: str
    fix: str = ""


def _first_line(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if len(line) > limit:
        line = line[: limit - 3] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


# -- Temporal --------------------------------------------------------------------------------


async def check_temporal(settings: Settings) -> Check:
    """Reachable, namespace present, search attributes registered, Schedules present."""
    target = settings.temporal_target
    try:
        client: Client = await asyncio.wait_for(connect(settings), TIMEOUT_S)
    except Exception as exc:
        return Check(
            "temporal",
            False,
            f"{target} not reachable ({_first_line(exc)})",
            "start Temporal or set TALENTLOOP_TEMPORAL_ADDRESS",
        )
    namespace = settings.temporal_namespace
    try:
        await asyncio.wait_for(
            client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            ),
            TIMEOUT_S,
        )
    except Exception as exc:
        return Check(
            "temporal",
            False,
            f"namespace {namespace} not found at {target} ({_first_line(exc)})",
            f"create the namespace (`temporal operator namespace create {namespace}`) or set "
            "TALENTLOOP_TEMPORAL_NAMESPACE",
        )
    try:
        listed = await asyncio.wait_for(
            client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            ),
            TIMEOUT_S,
        )
        missing_attributes = [
            key.name for key in search_attributes.ALL if key.name not in listed.custom_attributes
        ]
        schedules = await asyncio.wait_for(missing_schedules(client, settings), TIMEOUT_S)
    except Exception as exc:
        return Check("temporal", False, f"{target}: {_first_line(exc)}", "check the server's log")
    problems = []
    if missing_attributes:
        problems.append(f"search attributes missing: {', '.join(missing_attributes)}")
    if schedules:
        problems.append(f"Schedules missing: {', '.join(schedules)}")
    if problems:
        return Check("temporal", False, f"{target} {namespace}: {'; '.join(problems)}", SETUP)
    return Check(
        "temporal",
        True,
        f"{target} namespace {namespace}: {len(search_attributes.ALL)} search attributes, "
        "Schedules present",
    )


# -- Kafka -----------------------------------------------------------------------------------


def _group_lag(settings: Settings, topics: list[str]) -> str:
    """The consumer group's lag over the inbound topics, in words."""
    group = settings.consumer_group
    admin = make_admin(settings, timeout_ms=int(TIMEOUT_S * 1000))
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        committed = {tp: meta.offset for tp, meta in offsets.items() if tp.topic in topics}
        if not committed:
            return f"group {group}: no committed offsets yet"
        ends = admin.list_partition_offsets(dict.fromkeys(committed, OffsetSpec.LATEST))
    finally:
        admin.close()
    lag = sum(max(0, ends[tp].offset - offset) for tp, offset in committed.items() if tp in ends)
    return f"group {group} lag {lag}"


def check_kafka(settings: Settings) -> Check:
    """Reachable, every topic present with the configured partitions, the group's lag."""
    servers = settings.kafka_servers
    try:
        admin = make_admin(settings, timeout_ms=int(TIMEOUT_S * 1000))
    except Exception as exc:
        return Check(
            "kafka",
            False,
            f"{servers} not reachable ({_first_line(exc)})",
            "start Kafka or set TALENTLOOP_KAFKA_BOOTSTRAP",
        )
    topics = wanted_topics(settings)
    try:
        existing = set(admin.list_topics())
        partitions = topic_partitions(admin, [t for t in topics if t in existing])
    except Exception as exc:
        return Check("kafka", False, f"{servers}: {_first_line(exc)}", "check the brokers")
    finally:
        admin.close()
    missing = [t for t in topics if t not in existing]
    wrong = TopicsReport(created=[], partitions=partitions).mismatched(settings.topic_partitions)
    if missing:
        return Check("kafka", False, f"{servers}: topics missing: {', '.join(missing)}", SETUP)
    if wrong:
        listed = ", ".join(f"{t} has {n}" for t, n in sorted(wrong.items()))
        return Check(
            "kafka",
            False,
            f"{servers}: {listed} partitions, configured {settings.topic_partitions}",
            "set TALENTLOOP_TOPIC_PARTITIONS to match the topics",
        )
    try:
        lag = _group_lag(settings, settings.inbound_topics)
    except Exception as exc:
        lag = f"group lag unknown ({_first_line(exc)})"
    return Check(
        "kafka",
        True,
        f"{servers}: {len(topics)} topics, {settings.topic_partitions} partitions each; {lag}",
    )


# -- SMTP ------------------------------------------------------------------------------------


def check_smtp(settings: Settings) -> Check:
    """Connects and greets; STARTTLS and login when configured."""
    address = f"{settings.smtp_server}:{settings.smtp_port}"
    steps = ["TLS", "EHLO"] if settings.smtp_ssl else ["EHLO"]
    connection: smtplib.SMTP
    try:
        if settings.smtp_ssl:
            connection = smtplib.SMTP_SSL(
                settings.smtp_server,
                settings.smtp_port,
                timeout=TIMEOUT_S,
                context=tls_context(settings.smtp_ca_path),
            )
        else:
            connection = smtplib.SMTP(settings.smtp_server, settings.smtp_port, timeout=TIMEOUT_S)
        with connection as smtp:
            code, _ = smtp.ehlo()
            if code != 250:
                return Check("smtp", False, f"{address}: EHLO answered {code}", "check the relay")
            if settings.smtp_starttls:
                smtp.starttls(context=tls_context(settings.smtp_ca_path))
                smtp.ehlo()
                steps.append("STARTTLS")
            if settings.smtp_username:
                password = settings.smtp_password
                smtp.login(settings.smtp_username, password.get_secret_value() if password else "")
                steps.append("AUTH")
    except smtplib.SMTPAuthenticationError as exc:
        return Check(
            "smtp",
            False,
            f"{address}: authentication refused ({exc.smtp_code})",
            "check TALENTLOOP_SMTP_USERNAME / _SMTP_PASSWORD",
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Check(
            "smtp",
            False,
            f"{address} not reachable ({_first_line(exc)})",
            "start the SMTP relay or set TALENTLOOP_SMTP_HOST / _SMTP_PORT",
        )
    return Check("smtp", True, f"{address}: {', '.join(steps)} ok")


# -- database and LMS ------------------------------------------------------------------------


def _sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def check_database(settings: Settings) -> Check:
    """Reachable and at the newest migration (nothing is migrated here)."""
    url = normalize_url(settings.db_url)
    dialect = url.split(":", 1)[0]
    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        return Check("database", False, f"{dialect}: {path} does not exist", SETUP)
    engine = create_engine(url, connect_args=_connect_args(url))
    try:
        with engine.connect() as conn:
            current = current_revisions(conn)
    except SQLAlchemyError as exc:
        return Check(
            "database",
            False,
            f"{dialect}: not reachable ({_first_line(exc)})",
            "start the database or set TALENTLOOP_DATABASE_URL",
        )
    finally:
        engine.dispose()
    heads = head_revisions()
    if current != heads:
        at = ", ".join(sorted(current)) or "no revision"
        return Check(
            "database", False, f"{dialect}: at {at}, head is {', '.join(sorted(heads))}", SETUP
        )
    return Check("database", True, f"{dialect}: migrations at head ({', '.join(sorted(heads))})")


def _connect_args(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"timeout": TIMEOUT_S}
    if url.startswith("postgresql"):
        return {"connect_timeout": int(TIMEOUT_S)}
    return {}


def check_lms(settings: Settings) -> Check:
    """Built-in: the catalog has courses. Moodle: the token works and every function is granted."""
    if settings.lms_adapter == "moodle":
        return _check_moodle(settings)
    url = normalize_url(settings.db_url)
    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        return Check("lms", False, "built-in: no database", SETUP)
    engine = create_engine(url, connect_args=_connect_args(url))
    try:
        with engine.connect() as conn:
            courses = conn.execute(select(func.count()).select_from(CourseRow)).scalar_one()
    except SQLAlchemyError as exc:
        return Check("lms", False, f"built-in: catalog not readable ({_first_line(exc)})", SETUP)
    finally:
        engine.dispose()
    if not courses:
        return Check("lms", False, "built-in: the course catalog is empty", "run `talentloop seed`")
    return Check("lms", True, f"built-in: {courses} courses in the catalog")


def _check_moodle(settings: Settings) -> Check:
    """Moodle: the token works, every function is granted, the id fields are visible to it."""
    if not settings.moodle_url or not settings.moodle_token:
        return Check("lms", False, "moodle: no site", "set TALENTLOOP_MOODLE_URL and _MOODLE_TOKEN")
    site = settings.moodle_url
    try:
        config = replace(moodle_config(settings), timeout_s=TIMEOUT_S, calls_per_second=0)
    except ValueError as exc:
        return Check("lms", False, f"moodle {site}: {exc}", "fix TALENTLOOP_MOODLE_SKILL_MAP")
    port = MoodleLms(config)
    try:
        granted = port.granted_functions()
        missing = [f for f in FUNCTIONS if f not in granted]
        hidden = [] if missing else port.hidden_fields()
    except LmsError as exc:
        if exc.code in ("invalid_token", "access_denied"):
            fix = (
                f"grant {SITE_INFO} to the token's service (docs/lms.md)"
                if exc.code == "access_denied"
                else "check TALENTLOOP_MOODLE_TOKEN (docs/lms.md)"
            )
            return Check("lms", False, f"moodle {site}: {exc.code}", fix)
        return Check("lms", False, f"moodle {site}: {exc}", "check the site and its URL")
    finally:
        port.close()
    if missing:
        return Check(
            "lms",
            False,
            f"moodle {site}: functions not granted: {', '.join(missing)}",
            "add them to the token's external service (docs/lms.md)",
        )
    if hidden:
        problem, _, fix = hidden[0].partition("; ")
        return Check("lms", False, f"moodle {site}: {problem}", fix)
    return Check(
        "lms",
        True,
        f"moodle {site}: token valid, {len(FUNCTIONS)} functions granted, "
        f"course {config.course_field} and user {config.user_field} visible",
    )


# -- O*NET -----------------------------------------------------------------------------------


def check_onet(settings: Settings) -> Check:
    """The O*NET data is present (and matches its manifest where it has one)."""
    folder = settings.onet_dir
    if (folder / "MANIFEST.json").is_file():
        problems = verify_manifest(folder)
        if problems:
            return Check(
                "onet", False, f"{folder}: {problems[0]}", "reinstall talentloop (package data)"
            )
        return Check("onet", True, f"{folder}: checksums match the manifest")
    try:
        data = load_onet(folder, occupations=[])
    except OnetDataMissing as exc:
        return Check("onet", False, str(exc), "set TALENTLOOP_ONET_DIR to an O*NET release")
    return Check("onet", True, f"{folder}: {len(data.skills)} skills")


# -- all together ----------------------------------------------------------------------------

SYNC_CHECKS: Final[tuple[Callable[[Settings], Check], ...]] = (
    check_kafka,
    check_smtp,
    check_database,
    check_lms,
    check_onet,
)


def scrub(check: Check, secrets: list[str]) -> Check:
    """``check`` with every secret value in its detail and fix replaced by ``***``.

    A server's error message may quote what it was sent (a token in a URL, a password in a
    connection string); whatever a check found, no secret leaves `doctor`.
    """
    detail, fix = check.detail, check.fix
    for secret in secrets:
        detail, fix = detail.replace(secret, "***"), fix.replace(secret, "***")
    return replace(check, detail=detail, fix=fix)


async def run_doctor(settings: Settings) -> list[Check]:
    """Run every check at once; one row per component, Temporal first; no secret in a row."""
    rows = await asyncio.gather(
        check_temporal(settings),
        *(asyncio.to_thread(check, settings) for check in SYNC_CHECKS),
    )
    secrets = settings.secret_values()
    return [scrub(row, secrets) for row in rows]


def render_checks(checks: list[Check]) -> str:
    """The table `talentloop doctor` prints: component, ok/FAIL, detail, and the fix."""
    width = max(len("COMPONENT"), *(len(c.component) for c in checks))
    lines = [f"{'COMPONENT':<{width}}  STATE  DETAIL"]
    for c in checks:
        lines.append(f"{c.component:<{width}}  {'ok' if c.ok else 'FAIL':<5}  {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"{'':<{width}}         fix: {c.fix}")
    ready = all(c.ok for c in checks)
    lines.append("")
    failing = ", ".join(c.component for c in checks if not c.ok)
    lines.append("ready" if ready else f"NOT READY: {failing}")
    return "\n".join(lines)
