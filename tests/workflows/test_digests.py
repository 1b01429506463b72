"""Monitoring digests: each recipient gets one per period, in their locale (time-skipping)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.orm import Session, sessionmaker
from support.temporal import time_skipping_env
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.worker import Worker

from activities.digests import DigestActivities
from activities.mail.activities import MailActivities
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.store.engine import open_engine, session_factory
from activities.store.readmodel import RmDeadLetterRow, RmPlanItemRow
from activities.store.tables import EmployeeRow, RoleRow
from schemas.digests import DigestInput, DigestReport
from talentloop.console.auth import add_user
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.schedules import product_schedules
from talentloop.service.worker import workflow_runner
from workflows.digests import DIGEST_SCHEDULES, DigestWorkflow, period_of


@dataclass
class Outbox:
    """An SMTP sender that keeps what it was given."""

    messages: list[Message] = field(default_factory=list)

    async def send(self, msg: Message) -> None:
        self.messages.append(msg)

    async def close(self) -> None:
        return None

    def to(self, address: str) -> list[str]:
        return [
            str(make_header(decode_header(m["Subject"])))
            for m in self.messages
            if m["To"] == address
        ]


def seed(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as s:
        s.add(RoleRow(id="dev", title="Dev"))
        s.flush()
        for pid, mgr, locale in (
            ("M1", None, "de"),
            ("E1", "M1", "en"),
            ("E2", "M1", "en"),
            ("M2", None, "en"),  # a manager whose team has nothing to report
            ("E3", "M2", "en"),
            ("H1", None, "en"),
        ):
            s.add(
                EmployeeRow(
                    id=pid,
                    name=f"Person {pid}",
                    email=f"{pid.lower()}@example.com",
                    role_id="dev",
                    manager_id=mgr,
                    locale=locale,
                )
            )

        def item(emp: str, course: str, state: str, **kw: object) -> RmPlanItemRow:
            return RmPlanItemRow(
                employee_id=emp,
                course_id=course,
                title=f"Course {course}",
                state=state,
                created_at=now - timedelta(days=20),
                updated_at=now,
                **kw,
            )

        s.add(item("E1", "c1", "overdue", due=(now - timedelta(days=3)).date(), days_overdue=3))
        s.add(
            item(
                "E2",
                "c2",
                "awaiting_approval",
                approver_id="M1",
                approval_requested_at=now - timedelta(days=9),
                notice_status="failed",
            )
        )
        for offset, reason in ((1, "schema-invalid"), (2, "schema-invalid"), (3, "not-json")):
            s.add(
                RmDeadLetterRow(
                    partition=0,
                    offset=offset,
                    reason=reason,
                    at=now - timedelta(hours=2),
                )
            )
    add_user(sessions, "hr", "correct horse battery", "hr_admin", "H1")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(f"sqlite:///{tmp_path / 'app.db'}")
    sessions = session_factory(engine)
    seed(sessions)
    yield sessions
    engine.dispose()


async def test_each_recipient_gets_one_digest_per_period_in_their_locale(
    db: sessionmaker[Session],
) -> None:
    outbox = Outbox()
    mail = MailActivities(db, cast(SmtpSender, outbox), MailRenderer(), "t@example.com")
    digests = DigestActivities(db, mail, sla_days=5)
    env = await time_skipping_env()
    queue = f"digests-{uuid.uuid4()}"

    async def run(kind: str) -> DigestReport:
        return await env.client.execute_workflow(
            DigestWorkflow.run,
            DigestInput(kind=kind),  # type: ignore[arg-type]
            id=f"digest-{uuid.uuid4()}",
            task_queue=queue,
        )

    try:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[DigestWorkflow],
            activities=[digests.recipients, digests.send],
            workflow_runner=workflow_runner(Settings()),
        ):
            week = await run("manager")
            assert (week.sent, week.skipped) == (1, 1)  # M1; M2's team has nothing
            [subject] = outbox.to("m1@example.com")
            assert subject.startswith("Lernen in Ihrem Team") and "1 überfällig" in subject
            body = outbox.messages[0].get_payload()[0].get_payload(decode=True).decode()
            assert "Person E1: Course c1" in body and "Person E2: Course c2" in body
            again = await run("manager")  # the Schedule fires again (catch-up, trigger)
            assert (again.sent, again.period) == (0, week.period)
            assert len(outbox.to("m1@example.com")) == 1

            day = await run("hr")
            assert day.sent == 1 and day.period == period_of("hr", datetime.now(UTC))
            [hr] = outbox.to("h1@example.com")
            assert "3 new dead letters" in hr and "1 failed notifications" in hr
            assert "1 approvals past SLA" in hr
            assert (await run("hr")).sent == 0

            await env.sleep(timedelta(days=7))  # next week: a new period, a new digest
            later = await run("manager")
            assert later.period != week.period and later.sent == 1
            assert len(outbox.to("m1@example.com")) == 2
            assert outbox.to("m2@example.com") == [] and outbox.to("e1@example.com") == []
    finally:
        await env.shutdown()


def test_setup_creates_a_weekly_and_a_daily_digest_schedule(tmp_path: Path) -> None:
    schedules = product_schedules(private_settings(tmp_path))
    weekly = schedules[DIGEST_SCHEDULES["manager"]]
    daily = schedules[DIGEST_SCHEDULES["hr"]]
    assert weekly.spec.cron_expressions == ["0 7 * * 1"]
    assert daily.spec.cron_expressions == ["0 7 * * *"]
    for schedule, kind in ((weekly, "manager"), (daily, "hr")):
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.args == [DigestInput(kind=kind)]  # type: ignore[arg-type]
    assert period_of("manager", datetime(2026, 12, 2, tzinfo=UTC)) == "2026-W49"
