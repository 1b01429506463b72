"""Approve from the email: signed, scoped, expiring, single-use links to a confirmation page.

HTTP-level tests against the console application (httpx over ASGI), with a recording decider
for the refusals, and one test that decides through the link on a real employee workflow
(time-skipping Temporal test server, stubbed activities) from the email the workflow asked for.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from console_server import seed
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.temporal import time_skipping_env
from temporalio import activity
from temporalio.worker import Worker

from activities.mail.activities import MailActivities
from activities.mail.links import ApprovalLinks, LinkClaim, link_id_for
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.store.approval_links import UsedApprovalLinkRow
from activities.store.engine import open_engine, session_factory
from activities.store.readmodel import ConsoleAuditRow, RmPlanItemRow
from schemas.events import REVIEW_COMPLETED, InboundEvent, ReviewCompleted
from schemas.learning import Employee as Emp
from schemas.learning import (
    EmployeeLearningState,
    EmployeeWorkflowInput,
    EnrolledCourse,
    LearningPlan,
    LearningPolicy,
    MailResult,
    NoticeRequest,
    PolicySnapshot,
    Recipient,
    ReviewPlan,
    ReviewPlanRequest,
)
from schemas.outbound import PublishBatch, PublishResult
from schemas.skills import Gap, Plan, PlanItem
from talentloop.console.app import ConsoleConfig, DecisionRefused, create_app
from talentloop.console.plans import TemporalPlans
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

SECRET = "link-test-secret-0123456789abcdef"
PUBLIC = "https://hr.example.com/console"
BASE = "https://console.test"  # https: the client keeps the Secure session cookie


@dataclass
class RecordingDecider:
    """Answers as an employee workflow does: only a pending item, only by its approver."""

    pending: dict[tuple[str, str], str] = field(
        default_factory=lambda: {("E00003", "big-a"): "M0002", ("S00001", "big-c"): "M0003"}
    )
    calls: list[tuple[str, str, str, bool, str]] = field(default_factory=list)

    async def decide(
        self, employee_id: str, course_id: str, approver_id: str, approve: bool, comment: str
    ) -> str:
        self.calls.append((employee_id, course_id, approver_id, approve, comment))
        if self.pending.get((employee_id, course_id)) != approver_id:
            raise DecisionRefused(f"{course_id} is not awaiting approval by {approver_id}")
        del self.pending[(employee_id, course_id)]
        return "enrolled" if approve else "rejected"

    async def state(self, employee_id: str) -> EmployeeLearningState | None:
        return None


def claim(
    employee: str = "E00003",
    course: str = "big-a",
    approver: str = "M0002",
    *,
    approve: bool = True,
    expires_in: timedelta = timedelta(days=3),
    key: str = "E00003:approval:big-a:M0002",
) -> LinkClaim:
    return LinkClaim(
        link_id=link_id_for(key),
        employee_id=employee,
        course_id=course,
        approver_id=approver,
        approve=approve,
        expires_at=datetime.now(UTC) + expires_in,
    )


def path_of(url: str) -> str:
    return url.removeprefix(PUBLIC)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('links') / 'app.db'}")
    sessions = session_factory(engine)
    seed(sessions)
    yield sessions
    engine.dispose()


@pytest.fixture
async def console(
    db: sessionmaker[Session],
) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingDecider]]:
    decider = RecordingDecider()
    app = create_app(db, ConsoleConfig(secret_key=SECRET), decider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c, decider


def form_of(page: str) -> dict[str, str]:
    fields = dict(re.findall(r'name="(csrf_token|t)" value="([^"]+)"', page))
    assert set(fields) == {"csrf_token", "t"}, page
    return fields


async def test_valid_link_confirms_then_decides_once(
    console: tuple[httpx.AsyncClient, RecordingDecider], db: sessionmaker[Session]
) -> None:
    client, decider = console
    links = ApprovalLinks(SECRET, PUBLIC)
    approve = path_of(links.url(claim()))
    reject = path_of(links.url(claim(approve=False)))

    page = await client.get(approve)
    assert page.status_code == 200 and "Approve this training request?" in page.text
    assert "Course Big-a" in page.text or "big-a" in page.text
    again = await client.get(approve)  # a GET (a mail scanner, a preview) never decides
    assert again.status_code == 200 and decider.calls == []

    no_csrf = await client.post(approve, data={"t": form_of(page.text)["t"]})
    assert no_csrf.status_code == 403 and decider.calls == []

    done = await client.post(approve, data={**form_of(page.text), "comment": "go ahead"})
    assert done.status_code == 200, done.text
    assert 'id="decided"' in done.text and "enrolled" in done.text
    assert decider.calls == [("E00003", "big-a", "M0002", True, "go ahead")]

    for path in (approve, reject):  # spent: both of the email's links
        used = await client.get(path)
        assert used.status_code == 410 and "used already" in used.text
    replay = await client.post(approve, data=form_of(page.text))
    assert replay.status_code == 410 and len(decider.calls) == 1

    with db() as s:
        row = s.get(UsedApprovalLinkRow, link_id_for("E00003:approval:big-a:M0002"))
        assert row is not None and row.outcome == "enrolled" and row.decision == "approve"
        audit = s.scalars(
            select(ConsoleAuditRow).where(ConsoleAuditRow.actor == "email:M0002")
        ).all()
        assert [(a.action, a.target, a.outcome) for a in audit] == [
            ("approve", "E00003/big-a", "enrolled")
        ]


async def test_expired_tampered_and_other_item_links_are_refused(
    console: tuple[httpx.AsyncClient, RecordingDecider],
) -> None:
    client, decider = console
    links = ApprovalLinks(SECRET, PUBLIC)
    c = claim("S00001", "big-c", "M0003", key="S00001:approval:big-c:M0003")

    expired = path_of(links.url(replace(c, expires_at=datetime.now(UTC) - timedelta(hours=1))))
    r = await client.get(expired)
    assert r.status_code == 410 and "expired" in r.text and 'id="refused"' in r.text

    good = path_of(links.url(c))
    token = good.split("?t=")[1]
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    r = await client.get(tampered)
    assert r.status_code == 400 and "not valid" in r.text

    other = f"/approval-link/E00003/big-a?t={token}"  # S00001's link on another item
    r = await client.get(other)
    assert r.status_code == 400 and "another request" in r.text

    forged = ApprovalLinks("another-secret-0123456789abcdef", PUBLIC)
    r = await client.get(path_of(forged.url(c)))
    assert r.status_code == 400 and "not valid" in r.text

    exposed = (await client.get("/metrics")).text  # the console's Prometheus series
    for reason, at_least in (("invalid", 2), ("other-item", 1), ("expired", 1)):
        m = re.search(
            rf'talentloop_console_link_refusals_total{{reason="{reason}"}} (\S+)', exposed
        )
        assert m and float(m.group(1)) >= at_least, reason

    page = await client.get(good)  # the genuine one still works for its own item
    assert page.status_code == 200
    posted_elsewhere = await client.post(other, data=form_of(page.text))
    assert posted_elsewhere.status_code == 400 and decider.calls == []


async def test_a_decision_the_workflow_refuses_is_shown_and_spends_the_link(
    console: tuple[httpx.AsyncClient, RecordingDecider],
) -> None:
    client, decider = console
    links = ApprovalLinks(SECRET, PUBLIC)
    # M0002 was the approver; the item was escalated to M0001 meanwhile.
    path = path_of(links.url(claim("S00001", "big-c", "M0002", key="S00001:esc")))
    page = await client.get(path)
    r = await client.post(path, data=form_of(page.text))
    assert r.status_code == 409 and "not awaiting approval by M0002" in r.text
    assert len(decider.calls) == 1
    assert (await client.get(path)).status_code == 410


async def test_without_a_connection_to_the_workflows_the_link_is_not_spent(
    db: sessionmaker[Session],
) -> None:
    app = create_app(db, ConsoleConfig(secret_key=SECRET), None)
    path = path_of(ApprovalLinks(SECRET, PUBLIC).url(claim(key="no-temporal")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        page = await c.get(path)
        assert (await c.post(path, data=form_of(page.text))).status_code == 503
        assert (await c.get(path)).status_code == 200


def test_the_approval_email_carries_the_links_not_the_command(tmp_path: Path) -> None:
    req = NoticeRequest(
        dedupe_key="E00003:approval_request:big-a:M0002",
        template="approval_request",
        to=Recipient(id="M0002", name="Lead", email="m0002@example.com", locale="de"),
        employee=Emp(
            id="E00003",
            name="Person E00003",
            email="e00003@example.com",
            role_id="dev",
            role_title="Dev",
        ),
        courses=[EnrolledCourse(course_id="big-a", title="Big A", hours=40, due=None, reason="r")],
        facts={"respond_by": "2026-12-07", "next_step": "escalation to the next manager"},
    )
    links = ApprovalLinks(SECRET, PUBLIC)
    mail = MailActivities(
        session_factory(open_engine(f"sqlite:///{tmp_path / 'm.db'}")),
        SmtpSender(host="127.0.0.1", port=1),
        MailRenderer(),
        "talentloop@example.com",
        links,
    )
    text, html = bodies(mail, req)
    assert "talentloop approve" not in text and "talentloop approve" not in html
    urls = re.findall(r"https://hr\.example\.com/console/approval-link/E00003/big-a\?t=\S+", text)
    assert len(urls) == 2 and urls[0] != urls[1]
    assert 'href="https://hr.example.com/console/approval-link/E00003/big-a?t=' in html
    assert "2026-12-08 00:00 UTC" in text  # the end of the SLA's respond-by day
    # The same email again (a retried activity) carries the same links.
    assert urls[0] in bodies(mail, req)[0]
    plain = MailActivities(mail._sessions, mail._sender, MailRenderer(), "t@example.com")
    assert "talentloop approve" in bodies(plain, req)[0]  # no links configured: as before


def bodies(mail: MailActivities, req: NoticeRequest) -> tuple[str, str]:
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in mail.build(req, "<x@t>").walk()
        if not p.is_multipart()
    }
    return parts["text/plain"], parts["text/html"]


# -- against a real employee workflow ---------------------------------------------------------

QUEUE = "links"
POLICY = LearningPolicy(approval_hours_over=10, approval_cost_over=None)


def _employee(eid: str) -> Emp:
    return Emp(
        id=eid,
        name=f"Person {eid}",
        email=f"{eid.lower()}@example.com",
        role_id="dev",
        role_title="Dev",
        manager_id="M0002",
    )


@dataclass
class Stubs:
    """The activities the review path calls, answering as the real ones do."""

    notices: list[NoticeRequest] = field(default_factory=list)

    @activity.defn(name="policy.current")
    async def policy(self, employee_id: str) -> PolicySnapshot:
        return PolicySnapshot(policy=POLICY, lms_task_queue=QUEUE, lms_local=True, version="v")

    @activity.defn(name="directory.get_employee")
    async def get_employee(self, employee_id: str) -> Emp:
        return _employee(employee_id)

    @activity.defn(name="skills.plan_review")
    async def plan_review(self, req: ReviewPlanRequest) -> ReviewPlan:
        gap = Gap(skill_id="prog", skill_name="Programming", target=4, current=2, size=2, weight=1)
        item = PlanItem(course_id="big-w", title="Big W", hours=40, closes=("prog",), reason="r")
        planned = LearningPlan(
            employee_id=req.employee_id,
            event_id=req.event_id,
            policy="stub",
            gaps=[gap],
            plan=Plan(items=(item,), total_hours=40),
        )
        return ReviewPlan(employee=_employee(req.employee_id), planned=planned)

    @activity.defn(name="events.publish_many")
    async def publish_many(self, batch: PublishBatch) -> list[PublishResult]:
        return []

    @activity.defn(name="mail.send_notice")
    async def send_notice(self, req: NoticeRequest) -> MailResult:
        self.notices.append(req)
        return MailResult(dedupe_key=req.dedupe_key, message_id="<m@t>", sent_now=True)


async def test_the_link_decides_on_the_real_workflow_once(db: sessionmaker[Session]) -> None:
    env = await time_skipping_env()
    try:
        stubs = Stubs()
        review = ReviewCompleted.model_validate_json(
            json.dumps(
                {
                    "review_id": "rev-w",
                    "employee_id": "E00004",
                    "reviewer_id": "M0002",
                    "reviewer_kind": "manager",
                    "cycle": "2026-H2",
                    "completed_at": "2026-11-20T09:00:00Z",
                    "ratings": [{"skill_id": "prog", "rating": 2}],
                }
            )
        )
        event = InboundEvent(event_id="r-w", type=REVIEW_COMPLETED, source="t", review=review)
        async with Worker(
            env.client,
            task_queue=QUEUE,
            workflows=[EmployeeLearningWorkflow],
            activities=[
                stubs.policy,
                stubs.get_employee,
                stubs.plan_review,
                stubs.publish_many,
                stubs.send_notice,
            ],
        ):
            handle = await env.client.start_workflow(
                EmployeeLearningWorkflow.run,
                EmployeeWorkflowInput(employee_id="E00004", policy=POLICY, lms_local=True),
                id=workflow_id_for("E00004"),
                task_queue=QUEUE,
                start_signal="event",
                start_signal_args=[event],
            )
            for _ in range(200):
                asked = [n for n in stubs.notices if n.template == "approval_request"]
                if asked:
                    break
                await asyncio.sleep(0.05)
            (notice,) = asked
            assert notice.to.id == "M0002" and notice.facts["respond_by"]
            found = ApprovalLinks(SECRET, PUBLIC).for_notice(notice)
            assert found is not None
            app = create_app(db, ConsoleConfig(secret_key=SECRET), TemporalPlans(env.client))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
                page = await c.get(path_of(found["reject"]))
                assert page.status_code == 200 and "Reject this training request?" in page.text
                state = await handle.query(EmployeeLearningWorkflow.state)
                assert state.items[0].status == "awaiting_approval"  # the GET decided nothing
                r = await c.post(path_of(found["reject"]), data=form_of(page.text))
                assert r.status_code == 200 and "rejected" in r.text, r.text
                state = await handle.query(EmployeeLearningWorkflow.state)
                assert state.items[0].status == "rejected"
                approve = await c.get(path_of(found["approve"]))
                assert approve.status_code == 410  # the sibling link is spent too
            with db() as s:
                row = s.get(RmPlanItemRow, ("E00004", "big-w"))
                assert row is not None and row.state == "rejected"  # the read model followed
    finally:
        await env.shutdown()
