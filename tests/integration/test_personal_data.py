"""Personal data through the real stack: encrypted in Temporal's history, absent from logs.

A lane of the session stack runs its own bridge and worker whose client carries the payload
codec (`talentloop.service.temporal.connect` with TALENTLOOP_PAYLOAD_KEYS). A review goes
through Kafka, the bridge, the employee's workflow, the LMS and the SMTP sink; then the raw
history, read through a client without the codec (what the Temporal database and UI hold),
must hold no name, email or review comment, while the codec decodes them all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.cli import talentloop
from support.delivery import wait_handled
from support.events import role_review_event
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError
from temporalio.worker import Replayer

from activities.directory import DirectoryActivities
from activities.mail.activities import MailActivities
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.store.engine import open_engine, session_factory
from activities.store.tables import EmployeeRow, RoleRow
from schemas.events import EmployeeUpdated
from schemas.learning import Employee, EnrolledCourse, NoticeRequest, Recipient
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.codec import KEY_ID, data_converter
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events
from talentloop.service.temporal import connect, payload_codec
from talentloop.service.worker import WORKFLOWS, running_worker, workflow_runner
from workflows.employee import workflow_id_for

pytestmark = pytest.mark.integration

EMPLOYEE = "E00001"
COMMENT = "confidential: Quinn struggles with the quarterly figures"
K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()


@dataclass(frozen=True)
class Person:
    name: str
    email: str


def person(sessions: sessionmaker[Session], employee_id: str) -> Person:
    with sessions() as s:
        row = s.get(EmployeeRow, employee_id)
        assert row is not None
        return Person(row.name, row.email)


def secrets_of(who: Person) -> list[str]:
    return [who.name, who.email, COMMENT]


@pytest.fixture(scope="module")
def own(settings: Settings) -> Iterator[Settings]:
    """A lane of the session stack whose processes encrypt payloads (key k1)."""
    yield lane(
        settings,
        "privacy",
        task_queue="privacy-it",
        lms_task_queue="privacy-it-lms",
        payload_keys=f"k1:{K1}",
    )


QUIETED = {"kafka": logging.ERROR, "alembic": logging.WARNING}
"""What `talentloop.cli.app.configure_logging` quiets even under --verbose (the rest: DEBUG)."""


def verbose_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every record at DEBUG, the way `talentloop worker -v` logs."""
    caplog.set_level(logging.DEBUG)
    for name in ("talentloop", "activities", "workflows", "temporalio"):
        caplog.set_level(logging.DEBUG, logger=name)
    for name, level in QUIETED.items():
        caplog.set_level(level, logger=name)


def logged_text(caplog: pytest.LogCaptureFixture, *, require: bool = True) -> str:
    """Every captured record as a log handler would write it, tracebacks included."""
    assert caplog.records or not require, "nothing was logged: the capture is not wired"
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records)


@contextlib.asynccontextmanager
async def processes(own: Settings, sessions: sessionmaker[Session]) -> AsyncIterator[Client]:
    """A worker and a bridge of `own`, on a client with its codec; yields that client."""
    coded = await connect(own)
    known = directory_check(DirectoryActivities(sessions).lookup)
    async with running_worker(coded, own), running(Bridge(own, coded, known_employee=known)):
        yield coded


def payloads_in(
    message: Message, *, sdk_markers: bool = True, indexed: bool = False
) -> Iterator[Payload]:
    """Every payload inside a protobuf message; search attributes (indexed, so never
    encrypted) only with ``indexed=True``.

    With ``sdk_markers=False``, of a marker only its result: the SDK writes the rest of a
    marker (patch ids, a local activity's sequence number and type) itself, without the codec.
    """
    for field, value in message.ListFields():
        if field.name == "search_attributes" and not indexed:
            continue
        if field.message_type is None:
            continue
        if not sdk_markers and field.name == "details" and "Marker" in type(message).__name__:
            value = {k: v for k, v in value.items() if k == "result"}
        if isinstance(value, Message):
            items: Any = [value]
        elif field.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = value
        for item in items:
            if not isinstance(item, Message):
                continue
            if isinstance(item, Payload):
                yield item
            else:
                yield from payloads_in(item, sdk_markers=sdk_markers, indexed=indexed)


def raw_text(history: WorkflowHistory) -> str:
    """What anyone with access to Temporal's database reads: the JSON and the payload bytes."""
    datas = [
        p.data.decode("utf-8", "replace")
        for e in history.events
        for p in payloads_in(e, indexed=True)  # search attributes hold ids, never names
    ]
    return history.to_json() + "\n".join(datas)


async def delete_lane_workflows(client: Client, namespace: str) -> None:
    """Remove the lane's encrypted workflows: the session replays its histories in plain.

    Temporal accepts the deletion at once and carries it out (history and visibility, the
    listing `test_zz_replay` reads) about 20 s later, long before that last test runs.
    """
    async for wf in client.list_workflows("TaskQueue = 'privacy-it'"):
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
        with contextlib.suppress(RPCError):  # it may have ended already
            await handle.terminate("test over")
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=namespace,
                workflow_execution=WorkflowExecution(workflow_id=wf.id, run_id=wf.run_id),
            )
        )


async def test_personal_data_is_encrypted_in_history_and_rotation_keeps_it_readable(
    own: Settings,
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    verbose_logging(caplog)
    who = person(sessions, EMPLOYEE)
    workflow_id = workflow_id_for(EMPLOYEE)
    plain = client  # the session's client: no payload key, like `temporal workflow show`
    try:
        async with processes(own, sessions) as coded:
            first = role_review_event(sessions, EMPLOYEE, "ev-pd-1", skills=5, comments=COMMENT)
            await asyncio.to_thread(publish_events, own, [first])
            state = await wait_handled(coded, EMPLOYEE, "ev-pd-1")
            line = next(h for h in state.history if h.event_id == "ev-pd-1")
            assert line.outcome == "enrolled" and line.emails, line
            # The CLI reads the plan through the codec; without the key it cannot.
            shown = await asyncio.to_thread(talentloop, "plan", EMPLOYEE, env=own.to_env())
            assert shown.exit_code == 0, shown.stderr
            assert line.enrolled[0].course_id in shown.stdout
            blind = await asyncio.to_thread(talentloop, "plan", EMPLOYEE, env=settings.to_env())
            assert blind.exit_code == 1 and "TALENTLOOP_PAYLOAD_KEYS" in blind.stderr, blind
            for secret in secrets_of(who):
                assert secret not in shown.stderr + blind.stderr + blind.stdout
            # Subject access: the person's data, database and workflow, in one document.
            exported = await asyncio.to_thread(
                talentloop, "employee", "export", EMPLOYEE, env=own.to_env()
            )
            assert exported.exit_code == 0, exported.stderr
            document = json.loads(exported.stdout)
            assert document["database"]["employees"][0]["email"] == who.email
            assert {r["course_id"] for r in document["database"]["lms_enrollments"]} >= {
                c.course_id for c in line.enrolled
            }
            assert document["learning_workflow"]["employee_id"] == EMPLOYEE
            assert any(m["recipient"] == who.email for m in document["database"]["mail_outbox"])

        raw = await plain.get_workflow_handle(workflow_id).fetch_history()
        text = raw_text(raw)
        for secret in secrets_of(who):
            assert secret not in text, f"{secret!r} is readable in Temporal's history"
        left_plain = [
            (e.event_type, bytes(p.metadata.get("encoding", b"")), p.data[:80])
            for e in raw.events
            for p in payloads_in(e, sdk_markers=False)
            if KEY_ID not in p.metadata
        ]
        assert not left_plain, left_plain  # every payload encrypted

        codec = payload_codec(own)
        assert codec is not None
        opened = [
            (await codec.decode([p]))[0].data.decode() for e in raw.events for p in payloads_in(e)
        ]
        for secret in secrets_of(who):
            assert any(secret in o for o in opened), f"{secret!r} not in the decoded history"

        # The encrypted history replays with the codec (what a worker does after a restart).
        replayer = Replayer(
            workflows=list(WORKFLOWS),
            data_converter=data_converter(codec),
            workflow_runner=workflow_runner(own),
        )
        replayed = await replayer.replay_workflow(raw, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, replayed.replay_failure

        # Rotation: k2 encrypts from now on; k1 still reads the workflow's older payloads.
        rotated = lane(
            settings,
            "privacy",
            task_queue="privacy-it",
            lms_task_queue="privacy-it-lms",
            payload_keys=f"k1:{K1},k2:{K2}",
            payload_key_id="k2",
        )
        async with processes(rotated, sessions) as coded:
            before = await wait_handled(coded, EMPLOYEE, "ev-pd-1")
            assert before.history[0].event_id == "ev-pd-1"
            second = role_review_event(sessions, EMPLOYEE, "ev-pd-2", skills=5, comments=COMMENT)
            await asyncio.to_thread(publish_events, rotated, [second])
            after = await wait_handled(coded, EMPLOYEE, "ev-pd-2")
            assert [h.event_id for h in after.history][:2] == ["ev-pd-1", "ev-pd-2"]
        raw = await plain.get_workflow_handle(workflow_id).fetch_history()
        key_ids = {
            p.metadata.get(KEY_ID) for e in raw.events for p in payloads_in(e, sdk_markers=False)
        }
        assert key_ids == {b"k1", b"k2"}, key_ids
        for secret in secrets_of(who):
            assert secret not in raw_text(raw)
    finally:
        await delete_lane_workflows(plain, settings.temporal_namespace)

    logged = logged_text(caplog, require=False)  # the happy path may log nothing at all
    for secret in secrets_of(who):
        assert secret not in logged, f"{secret!r} was logged"


async def test_failing_directory_insert_and_smtp_send_log_no_personal_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    verbose_logging(caplog)
    who = Person("Zoë Okafor-Lindqvist", "zoe.okafor@example.org")

    # A directory insert the database refuses (a trigger stands in for a full disk, a
    # constraint, a lock): the error, as the worker logs it with its traceback, quotes
    # the statement but none of its parameters.
    sessions = session_factory(open_engine(f"sqlite:///{tmp_path / 'dir.db'}"))
    with sessions.begin() as s:
        s.add(RoleRow(id="onet:15-1252.00", title="Software Developers"))
        s.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON employees "
                "BEGIN SELECT RAISE(ABORT, 'insert refused'); END"
            )
        )
    joined = EmployeeUpdated(
        employee_id="E09001",
        change="joined",
        role_id="onet:15-1252.00",
        name=who.name,
        email=who.email,
    )
    with pytest.raises(SQLAlchemyError) as refused:
        await asyncio.to_thread(DirectoryActivities(sessions).apply_update, joined)
    logging.getLogger("temporalio.activity").warning(
        "Completing activity as failed", exc_info=refused.value
    )

    # An SMTP relay that refuses the recipient, then one that refuses the message: the
    # activity's failures (logged by the worker with their causes) name the employee id only.
    rejecting = RejectingRelay()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = Controller(rejecting, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        sender = SmtpSender("127.0.0.1", port)
        mail = MailActivities(
            session_factory(open_engine(f"sqlite:///{tmp_path / 'mail.db'}")),
            sender,
            MailRenderer(),
            "talentloop <learning@talentloop.example>",
        )
        for stage in ("RCPT", "DATA"):
            rejecting.stage = stage
            request = notice(who, COMMENT, f"E09001:enrollment:{stage}")
            with pytest.raises(Exception) as failed:
                await mail.send_notice(request)
            logging.getLogger("temporalio.activity").warning(
                "Completing activity as failed", exc_info=failed.value
            )
            assert "E09001" in str(failed.value)
        await sender.close()
    finally:
        relay.stop()

    logged = logged_text(caplog)
    assert "insert refused" in logged and "SMTP 550" in logged and "SMTP 554" in logged
    for secret in secrets_of(who):
        assert secret not in logged, f"{secret!r} was logged"


class RejectingRelay:
    """An aiosmtpd handler refusing every recipient (RCPT) or every message (DATA)."""

    stage = "RCPT"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.stage == "RCPT":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return f"554 5.7.1 message for {','.join(envelope.rcpt_tos)} rejected as spam"


def notice(who: Person, comment: str, key: str) -> NoticeRequest:
    course = EnrolledCourse(course_id="c-1", title="Listening", hours=2.0, due=None, reason=comment)
    employee = Employee(
        id="E09001",
        name=who.name,
        email=who.email,
        role_id="onet:15-1252.00",
        role_title="Software Developers",
    )
    return NoticeRequest(
        dedupe_key=key,
        template="enrollment",
        to=Recipient(id="E09001", name=who.name, email=who.email),
        employee=employee,
        courses=[course],
    )
