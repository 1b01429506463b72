"""The demo: seed, publish a burst of GENERATED reviews, run worker and bridge, summarise."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.service import RPCError

from activities.directory import DirectoryActivities
from activities.goals import GoalActivities
from activities.store.engine import open_engine, session_factory
from activities.store.tables import LmsEnrollmentRow
from schemas.learning import EmployeeLearningState
from talentloop.dev.goal_samples import sample_goals
from talentloop.dev.seed import count_rows, sample_reviews, seed
from talentloop.dev.smtpsink import read_maildir
from talentloop.service.bridge import Bridge, directory_check, skills_check
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events
from talentloop.service.temporal import connect
from talentloop.service.worker import running_worker
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for


@dataclass
class DemoSummary:
    """What the demo saw happen."""

    published: int
    goals_published: int
    goals_handled: int
    consumed: int
    dead_lettered: int
    handled: int
    gaps: int
    enrolled_now: int
    enrollments_total: int
    emails_now: int
    emails_in_maildir: int
    seconds: float
    timed_out: bool

    def render(self, settings: Settings) -> str:
        """The summary as printed at the end of `talentloop demo`."""
        lines = [
            "",
            "talentloop demo summary"
            + ("  (TIMED OUT: not every review was handled)" if self.timed_out else ""),
            f"  reviews published       {self.published}",
            f"  goals published         {self.goals_published}  (handled "
            f"{self.goals_handled}: goal-driven training, aligned or not)",
            f"  events consumed         {self.consumed}  (dead-lettered {self.dead_lettered})",
            f"  reviews handled         {self.handled}  in {self.seconds:.1f} s",
            f"  skill gaps found        {self.gaps}",
            f"  enrollments created     {self.enrolled_now}  (built-in LMS now holds "
            f"{self.enrollments_total})",
            f"  emails sent             {self.emails_now}  (Maildir now holds "
            f"{self.emails_in_maildir})",
            "",
            f"  Temporal UI   {settings.temporal_ui_url}/namespaces/"
            f"{settings.temporal_namespace}/workflows",
            f"  Maildir       {settings.maildir.resolve()}",
            f"  Database      {settings.db_url}",
            "  Stop the stack with `make down` (or `talentloop dev down`).",
        ]
        return "\n".join(lines)


async def _state(client: Client, employee_id: str) -> EmployeeLearningState | None:
    try:
        handle = client.get_workflow_handle(workflow_id_for(employee_id))
        return await handle.query(EmployeeLearningWorkflow.state)
    except RPCError:
        return None


async def run_demo(settings: Settings, *, reviews: int, timeout: float) -> DemoSummary:
    """Seed, publish `reviews` reviews, and wait until every one is handled or `timeout`."""
    sessions = session_factory(open_engine(settings.db_url))
    await asyncio.to_thread(seed, sessions, settings.onet_dir)
    events = await asyncio.to_thread(sample_reviews, sessions, reviews)
    want = {e["data"]["employee_id"]: e["id"] for e in events}
    # A tenth of the reviewed employees also get a goal (most aligned to the demo's objectives).
    goals = await asyncio.to_thread(sample_goals, sessions, max(1, reviews // 10))
    goal_ids = {e["id"] for e in goals}
    enrollments_before = count_rows(sessions, LmsEnrollmentRow)
    mails_before = len(read_maildir(settings.maildir))

    client = await connect(settings)
    stop = asyncio.Event()
    started = time.monotonic()
    bridge = Bridge(
        settings,
        client,
        known_employee=directory_check(DirectoryActivities(sessions).lookup),
        unknown_skills=skills_check(GoalActivities(sessions).known_skills),
    )
    async with running_worker(client, settings):
        bridge_task = asyncio.create_task(bridge.run(stop))
        await asyncio.to_thread(publish_events, settings, events)
        await asyncio.to_thread(publish_events, settings, goals)
        states: dict[str, EmployeeLearningState] = {}
        goals_done: set[str] = set()
        goal_owner = {e["id"]: e["data"]["employee_id"] for e in goals}
        deadline = started + timeout
        while time.monotonic() < deadline and (
            len(states) < len(want) or len(goals_done) < len(goal_ids)
        ):
            for eid, event_id in want.items():
                if eid in states:
                    continue
                st = await _state(client, eid)
                if st is not None and any(h.event_id == event_id for h in st.history):
                    states[eid] = st
            for gid in goal_ids - goals_done:
                st = await _state(client, goal_owner[gid])
                if st is not None and any(h.event_id == gid for h in st.history):
                    goals_done.add(gid)
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        stop.set()
        await bridge_task
    lines = [h for st in states.values() for h in st.history if h.event_id in want.values()]
    return DemoSummary(
        published=len(events),
        goals_published=len(goals),
        goals_handled=len(goals_done),
        consumed=bridge.stats.consumed,
        dead_lettered=bridge.stats.dead_lettered,
        handled=len(states),
        gaps=sum(len(h.gaps) for h in lines),
        enrolled_now=count_rows(sessions, LmsEnrollmentRow) - enrollments_before,
        enrollments_total=count_rows(sessions, LmsEnrollmentRow),
        emails_now=len(read_maildir(settings.maildir)) - mails_before,
        emails_in_maildir=len(read_maildir(settings.maildir)),
        seconds=elapsed,
        timed_out=len(states) < len(want),
    )
