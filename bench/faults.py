"""Fault benchmark: reviews keep being enrolled while a dependency fails.

Starts a private embedded stack (Temporal dev server, Tansu, SMTP sink) on free ports, seeds
O*NET roles with GENERATED employees and courses, runs `talentloop worker --processes N` (one
process per core unless --workers says otherwise) and `talentloop bridge` as processes of their
own, and measures in one run, after a warm-up through the whole path:

1. a burst: B reviews published at once; rate = B / (last email - first publish);
2. the baseline: a steady offered load at half the burst rate, no fault;
3. SMTP down: the same load while the SMTP sink is stopped for --outage seconds; the share of
   the reviews offered during the outage that are enrolled (in the LMS) within the outage plus
   60 s (target >= 80 %), and when their emails arrive once SMTP is back;
4. a worker process killed: the same load; one child of `talentloop worker --processes N` is
   killed with SIGKILL; whether the others keep enrolling meanwhile and when the killed one
   polls the task queue again (target: within 10 s).

Each review goes to an employee of its own (their first review), so an employee's first
enrollment time in the LMS (`lms_enrollments.created_at`) is that review's enrollment.

Usage: python bench/faults.py [--employees 3000] [--burst 200] [--steady-seconds 20]
                              [--outage 40] [--kill-seconds 30] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import TaskQueueType  # noqa: E402
from temporalio.api.taskqueue.v1 import TaskQueue  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402

from activities.store.engine import open_engine, session_factory  # noqa: E402
from activities.store.tables import (  # noqa: E402
    LmsEnrollmentRow,
)
from bench.e2e import people_with_top_skills, review_for, tear_down  # noqa: E402
from talentloop.dev.devstack import SMTP, DevStack  # noqa: E402
from talentloop.dev.processes import alive  # noqa: E402
from talentloop.dev.seed import seed  # noqa: E402
from talentloop.dev.teststack import private_settings  # noqa: E402
from talentloop.service.config import Settings  # noqa: E402
from talentloop.service.kafka import make_producer  # noqa: E402
from talentloop.service.temporal import connect  # noqa: E402

WITHIN = 60.0
"""Seconds after a stage's load (or the outage) ends by which its reviews count as enrolled."""

BACK_WITHIN = 10.0
"""Seconds within which a killed worker process must poll the task queue again."""


@dataclass
class Review:
    """One generated review: its event, its employee and their email address."""

    employee: str
    email: str
    event: dict[str, Any]


@dataclass
class StageResult:
    """What one stage of steady load gave."""

    name: str
    offered: dict[str, float]
    """employee -> publish time of their review"""
    counted: list[str]
    """the employees whose reviews the share is about"""
    deadline: float
    enrolled: dict[str, float]
    mailed: dict[str, float]

    def share(self) -> float:
        """Share of the counted reviews enrolled by the deadline."""
        ok = [e for e in self.counted if self.enrolled.get(e, float("inf")) <= self.deadline]
        return len(ok) / len(self.counted) if self.counted else float("nan")

    def latencies(self) -> list[float]:
        """Publish -> enrollment seconds of the counted reviews that were enrolled."""
        return [self.enrolled[e] - self.offered[e] for e in self.counted if e in self.enrolled]


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class MailByRecipient:
    """Reads the sink's Maildir incrementally: recipient -> when their first email was stored."""

    def __init__(self, maildir: Path) -> None:
        self._new = maildir / "new"
        self._seen: set[str] = set()
        self.first: dict[str, float] = {}
        self._parser = BytesHeaderParser()

    def scan(self) -> dict[str, float]:
        """Read what arrived since the last scan; every recipient's first email time."""
        if self._new.is_dir():
            for entry in os.scandir(self._new):
                if entry.name in self._seen:
                    continue
                self._seen.add(entry.name)
                with open(entry.path, "rb") as fh:
                    to = self._parser.parse(fh).get("To", "")
                when = entry.stat().st_mtime
                self.first[to] = min(when, self.first.get(to, when))
        return self.first


def enrolled_at(sessions: sessionmaker[Session], employees: list[str]) -> dict[str, float]:
    """Each employee's first enrollment time in the built-in LMS (epoch seconds)."""
    found: dict[str, float] = {}
    with sessions() as s:
        for at in range(0, len(employees), 500):
            rows = s.execute(
                select(LmsEnrollmentRow.employee_id, func.min(LmsEnrollmentRow.created_at))
                .where(LmsEnrollmentRow.employee_id.in_(employees[at : at + 500]))
                .group_by(LmsEnrollmentRow.employee_id)
            )
            for employee, created in rows:
                when = created if created.tzinfo else created.replace(tzinfo=UTC)
                found[employee] = when.timestamp()
    return found


async def wait_for(
    sessions: sessionmaker[Session],
    mail: MailByRecipient,
    reviews: list[Review],
    *,
    until: float,
    emails: bool,
) -> tuple[dict[str, float], dict[str, float]]:
    """Poll until every review is enrolled (and emailed, if `emails`) or the time `until`.

    Returns enrollment and first-email times by employee.
    """
    people = [r.employee for r in reviews]
    while True:
        enrolled = await asyncio.to_thread(enrolled_at, sessions, people)
        first = mail.scan()
        mailed = {r.employee: first[r.email] for r in reviews if r.email in first}
        done = len(enrolled) == len(people) and (not emails or len(mailed) == len(people))
        if done or time.time() >= until:
            return enrolled, mailed
        await asyncio.sleep(1.0)


async def offer(settings: Settings, reviews: list[Review], rate: float | None) -> dict[str, float]:
    """Publish the reviews (all at once, or at `rate` per second); employee -> publish time."""
    producer = make_producer(settings)
    published: dict[str, float] = {}
    start = time.time()
    try:
        for n, review in enumerate(reviews):
            if rate:
                delay = start + n / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            published[review.employee] = time.time()
            producer.send(
                settings.topic_reviews,
                key=review.employee.encode(),
                value=json.dumps(review.event).encode(),
            )
            if rate:
                await asyncio.to_thread(producer.flush)
        await asyncio.to_thread(producer.flush)
    finally:
        producer.close()
    return published


def worker_children(parent: int) -> list[int]:
    """The pids of the worker processes `talentloop worker --processes N` runs now."""
    try:
        text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


async def polling_pids(client: Client, settings: Settings) -> set[int]:
    """The pids of the worker processes that polled the workflow task queue lately."""
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {int(p.identity.split("@")[0]) for p in answer.pollers if "@" in p.identity}


class Bench:
    """The stages, sharing the stack, the reviews still unused and the mail watch."""

    def __init__(
        self,
        settings: Settings,
        stack: DevStack,
        sessions: sessionmaker[Session],
        reviews: list[Review],
        supervisor: subprocess.Popen[bytes],
    ) -> None:
        self.settings = settings
        self.stack = stack
        self.sessions = sessions
        self.unused = list(reviews)
        self.supervisor = supervisor
        self.mail = MailByRecipient(settings.maildir)

    def take(self, count: int) -> list[Review]:
        """The next `count` unused reviews (fewer if the employees run out)."""
        taken, self.unused = self.unused[:count], self.unused[count:]
        if len(taken) < count:
            print(f"  (only {len(taken)} employees left of the {count} wanted; see --employees)")
        return taken

    async def burst(self, count: int) -> float:
        """Publish `count` reviews at once; reviews per second up to the last email."""
        reviews = self.take(count)
        published = await offer(self.settings, reviews, None)
        _, mailed = await wait_for(
            self.sessions, self.mail, reviews, until=time.time() + 600, emails=True
        )
        if len(mailed) < len(reviews):
            raise SystemExit(f"burst: {len(reviews) - len(mailed)} emails missing after 600 s")
        return len(reviews) / (max(mailed.values()) - min(published.values()))

    async def steady(self, rate: float, seconds: float) -> StageResult:
        """The baseline: `rate` reviews per second for `seconds`, no fault."""
        reviews = self.take(int(rate * seconds))
        published = await offer(self.settings, reviews, rate)
        deadline = max(published.values()) + WITHIN
        enrolled, mailed = await wait_for(
            self.sessions, self.mail, reviews, until=deadline + 5, emails=True
        )
        return StageResult(
            "baseline (no fault)", published, list(published), deadline, enrolled, mailed
        )

    async def smtp_outage(self, rate: float, outage: float) -> tuple[StageResult, float, float]:
        """The load with SMTP down for `outage` seconds, from 5 s into it to 15 s before its end.

        Returns the stage, the measured outage (s) and the seconds from SMTP back to the last
        email of the outage's reviews (NaN if some never came within 300 s).
        """
        reviews = self.take(int(rate * (5 + outage + 15)))
        publishing = asyncio.create_task(offer(self.settings, reviews, rate))
        await asyncio.sleep(5)
        down_at = time.time()
        await asyncio.to_thread(self.stack.down, [SMTP])
        await asyncio.sleep(max(0.0, outage - (time.time() - down_at)))
        await asyncio.to_thread(self.stack.up, [SMTP])
        up_at = time.time()
        published = await publishing
        during = [e for e, t in published.items() if down_at <= t < up_at]
        deadline = up_at + WITHIN
        enrolled, _ = await wait_for(
            self.sessions,
            self.mail,
            [r for r in reviews if r.employee in during],
            until=deadline + 5,
            emails=False,
        )
        _, mailed = await wait_for(
            self.sessions, self.mail, reviews, until=up_at + 300, emails=True
        )
        stage = StageResult(
            f"SMTP down {up_at - down_at:.0f} s", published, during, deadline, enrolled, mailed
        )
        outage_mails = [mailed[e] for e in during if e in mailed]
        catch_up = max(outage_mails) - up_at if len(outage_mails) == len(during) else float("nan")
        return stage, up_at - down_at, catch_up

    async def worker_killed(
        self, rate: float, seconds: float
    ) -> tuple[StageResult, float | None, int, bool]:
        """The load while one worker process is killed 5 s into it.

        Returns the stage, the seconds until a new worker process polled the task queue (None:
        not within 60 s), the reviews enrolled meanwhile, and whether the others stayed up.
        """
        reviews = self.take(int(rate * seconds))
        before = worker_children(self.supervisor.pid)
        publishing = asyncio.create_task(offer(self.settings, reviews, rate))
        await asyncio.sleep(5)
        victim, others = before[0], before[1:]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        client = await connect(self.settings)
        back: float | None = None
        while time.time() < killed_at + 60:
            new = await polling_pids(client, self.settings) - set(before)
            if new:
                back = time.time() - killed_at
                break
            await asyncio.sleep(0.1)
        others_up = all(alive(pid) for pid in others)
        published = await publishing
        deadline = max(published.values()) + WITHIN
        enrolled, mailed = await wait_for(
            self.sessions, self.mail, reviews, until=deadline + 5, emails=True
        )
        back_at = killed_at + (back if back is not None else 60)
        meanwhile = sum(1 for t in enrolled.values() if killed_at <= t < back_at)
        stage = StageResult(
            "1 worker process killed", published, list(published), deadline, enrolled, mailed
        )
        return stage, back, meanwhile, others_up


def row(stage: StageResult, offered_rate: float) -> str:
    """One line of the results table."""
    lat = stage.latencies()
    mails = sum(1 for e in stage.counted if e in stage.mailed)
    return (
        f"{stage.name:<26} {offered_rate:>6.1f} {len(stage.offered):>7} {len(stage.counted):>7} "
        f"{stage.share():>8.0%} {pct(lat, 50):>7.2f} {pct(lat, 95):>7.2f} {pct(lat, 100):>7.2f} "
        f"{mails:>6}"
    )


async def run(bench: Bench, args: argparse.Namespace) -> None:
    """Run every stage and print the figures."""
    warm = bench.take(5)
    await offer(bench.settings, warm, None)
    await wait_for(bench.sessions, bench.mail, warm, until=time.time() + 180, emails=True)

    burst_rate = await bench.burst(args.burst)
    rate = burst_rate / 2
    print(f"burst of {args.burst} reviews: {burst_rate:.1f} reviews/s; offering {rate:.1f}/s")
    baseline = await bench.steady(rate, args.steady_seconds)
    print(f"baseline done: {baseline.share():.0%} enrolled within {WITHIN:g} s", flush=True)
    smtp, outage, catch_up = await bench.smtp_outage(rate, args.outage)
    print(f"SMTP stage done: {smtp.share():.0%}", flush=True)
    killed, back, meanwhile, others_up = await bench.worker_killed(rate, args.kill_seconds)

    print()
    print(
        f"{'stage':<26} {'per s':>6} {'offered':>7} {'counted':>7} {'enrolled':>8} "
        f"{'p50 s':>7} {'p95 s':>7} {'max s':>7} {'mailed':>6}"
    )
    print(f"  (enrolled: share of the counted reviews enrolled within {WITHIN:g} s of the end of")
    print("   the load, or of the outage; latency: publish -> enrollment of the counted ones)")
    for stage in (baseline, smtp, killed):
        print(row(stage, rate))
    print()
    share = smtp.share()
    print(
        f"SMTP down {outage:.0f} s: {share:.0%} of the {len(smtp.counted)} reviews offered during "
        f"the outage enrolled within the outage + {WITHIN:g} s (target >= 80 %: "
        f"{'PASS' if share >= 0.8 else 'FAIL'}); baseline {baseline.share():.0%}"
    )
    print(
        "  their emails: "
        + (
            f"all {len(smtp.counted)} stored, the last {catch_up:.1f} s after SMTP was back"
            if catch_up == catch_up
            else f"{sum(1 for e in smtp.counted if e in smtp.mailed)} of {len(smtp.counted)} "
            "stored within 300 s of SMTP back"
        )
    )
    print(
        f"worker process killed: the others {'kept running' if others_up else 'DIED'} and "
        f"enrolled {meanwhile} reviews until it was back; back polling after "
        + (f"{back:.1f} s" if back is not None else "more than 60 s")
        + f" (target <= {BACK_WITHIN:g} s: "
        + ("PASS" if back is not None and back <= BACK_WITHIN and others_up else "FAIL")
        + f"); {killed.share():.0%} of the stage's reviews enrolled within {WITHIN:g} s "
        f"(baseline {baseline.share():.0%}), p95 {pct(killed.latencies(), 95):.2f} s "
        f"(baseline {pct(baseline.latencies(), 95):.2f} s)"
    )


def main() -> None:
    """Parse arguments, start the stack and the processes, run, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=3000)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=40.0)
    parser.add_argument("--kill-seconds", type=float, default=30.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=max(2, os.cpu_count() or 1),
        help="worker processes of `talentloop worker --processes` (at least 2: one is killed)",
    )
    args = parser.parse_args()
    if args.workers < 2:
        parser.error("--workers must be at least 2: one is killed while the others go on")

    state = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    settings = private_settings(
        state,
        approval_hours_over=None,
        approval_cost_over=None,
        task_queue="bench-faults",
    )
    stack = DevStack(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        stack.up()
        sessions = session_factory(open_engine(settings.db_url))
        seed(sessions, settings.onet_dir, employees=args.employees)
        reviews = [
            Review(p.id, p.email, review_for(p, skills))
            for p, skills in people_with_top_skills(sessions)
        ]
        env = settings.to_env()
        py = sys.executable
        supervisor = subprocess.Popen(
            [py, "-m", "talentloop.cli", "worker", "--processes", str(args.workers)],
            env=env,
            stdout=(state / "workers.log").open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        procs.append(supervisor)
        procs.append(
            subprocess.Popen(
                [py, "-m", "talentloop.cli", "bridge"],
                env=env,
                stdout=(state / "bridge.log").open("wb"),
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        )
        print(
            f"stack up on {settings.temporal_target} / {settings.kafka_servers}; "
            f"{len(reviews)} generated employees; `talentloop worker --processes {args.workers}`; "
            f"{os.cpu_count()} cores shared by server, broker, sink, workers, bridge and this "
            "process",
            flush=True,
        )
        started = time.time()
        asyncio.run(run(Bench(settings, stack, sessions, reviews, supervisor), args))
        print(f"\n(run took {time.time() - started:.0f} s)")
        log = (state / "workers.log").read_text(errors="replace")
        restarts = [line for line in log.splitlines() if "restarting in" in line]
        print("worker supervisor said: " + (restarts[-1] if restarts else "(no restart line)"))
    finally:
        tear_down(procs, stack, state)


if __name__ == "__main__":
    main()
