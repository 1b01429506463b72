"""End-to-end benchmark: review published on Kafka -> enrollment email accepted by the SMTP sink.

Starts a private embedded stack (Temporal dev server, Tansu, SMTP sink) on free ports, seeds
O*NET roles with GENERATED employees and courses, runs `talentloop worker` (one process per
core unless --workers says otherwise) and `talentloop bridge` as their own processes, and
measures in one run, after a warm-up through the whole path:

1. the platform ceiling: Temporal's rate for a workflow with one no-op activity, on the same
   server, with its worker in its own process (bench/noop.py);
2. a burst: B reviews published at once; rate = B / (last email - first publish);
3. a steady offered load at half the burst rate for S seconds: p50 / p95 / p99 latency;
4. where the time goes: CPU per workflow of every process (server, broker, sink, workers,
   bridge) in the ceiling and burst stages, and the Temporal histories of a sample of the
   burst's workflows (events, workflow tasks, their time).

Usage: python bench/e2e.py [--employees 1400] [--burst 300] [--steady-seconds 20] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activities.store.engine import open_engine, session_factory  # noqa: E402
from activities.store.tables import EmployeeRow, RoleRequirementRow  # noqa: E402
from bench.cpu import CpuMeter  # noqa: E402
from bench.noop import NoopWorkflow  # noqa: E402
from talentloop.dev.devstack import DevStack  # noqa: E402
from talentloop.dev.seed import seed  # noqa: E402
from talentloop.dev.teststack import private_settings  # noqa: E402
from talentloop.service.config import Settings  # noqa: E402
from talentloop.service.kafka import make_producer  # noqa: E402
from talentloop.service.temporal import connect  # noqa: E402
from workflows.employee import workflow_id_for  # noqa: E402

EVENTS = "history events per workflow (count)"


def tear_down(procs: list[subprocess.Popen[bytes]], stack: DevStack, state: Path) -> None:
    """Stop the benchmark's processes (SIGTERM, then SIGKILL after 30 s), the stack, its files."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    stack.down()
    shutil.rmtree(state, ignore_errors=True)


def people_with_top_skills(
    sessions: sessionmaker[Session],
) -> list[tuple[EmployeeRow, list[RoleRequirementRow]]]:
    """Every seeded employee, by id, with the three most important skills of their role."""
    with sessions() as s:
        people = list(s.scalars(select(EmployeeRow).order_by(EmployeeRow.id)))
        top = {
            role: list(
                s.scalars(
                    select(RoleRequirementRow)
                    .where(RoleRequirementRow.role_id == role)
                    .order_by(RoleRequirementRow.importance.desc())
                    .limit(3)
                )
            )
            for role in {p.role_id for p in people}
        }
    return [(p, top[p.role_id]) for p in people]


def review_for(person: EmployeeRow, skills: list[RoleRequirementRow]) -> dict[str, Any]:
    """A GENERATED manager review rating three role skills two levels below the role."""
    now = datetime.now(UTC).isoformat()
    event_id = str(uuid.uuid4())
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "bench/e2e.py (generated)",
        "type": "review.completed.v1",
        "time": now,
        "data": {
            "review_id": f"bench-{event_id}",
            "employee_id": person.id,
            "reviewer_id": person.manager_id or person.id,
            "reviewer_kind": "manager",
            "cycle": "bench",
            "completed_at": now,
            "ratings": [
                {"skill_id": r.skill_id, "rating": max(0.0, round(r.level - 2.0, 1))}
                for r in skills
            ],
        },
    }


class MailWatch:
    """Reads the sink's Maildir incrementally: enrollment email key -> time it was stored."""

    def __init__(self, maildir: Path) -> None:
        self._new = maildir / "new"
        self._seen: set[str] = set()
        self.stored: dict[str, float] = {}
        self._parser = BytesHeaderParser()

    def scan(self) -> None:
        if not self._new.is_dir():
            return
        for entry in os.scandir(self._new):
            if entry.name in self._seen:
                continue
            self._seen.add(entry.name)
            with open(entry.path, "rb") as fh:
                headers = self._parser.parse(fh)
            key = headers.get("X-Talentloop-Key", "")
            if key.startswith("enrollment:"):
                self.stored[key.removeprefix("enrollment:")] = entry.stat().st_mtime


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def ceiling(settings: Settings, count: int, concurrency: int) -> float:
    """Workflows per second for a one-no-op-activity workflow on the same server."""
    client = await connect(settings)
    sem = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with sem:
            await client.execute_workflow(
                NoopWorkflow.run, str(n), id=f"noop-{uuid.uuid4()}", task_queue="bench-noop"
            )

    await asyncio.gather(*(one(n) for n in range(20)))  # warm-up
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - started)


async def publish_and_wait(
    settings: Settings,
    events: list[dict[str, Any]],
    watch: MailWatch,
    rate: float | None,
    timeout: float,
) -> tuple[dict[str, float], float, float]:
    """Publish (all at once, or at `rate` per second); wait for every enrollment email.

    Returns per-event publish times, the first publish time and the last email time.
    """
    producer = make_producer(settings)
    published: dict[str, float] = {}
    start = time.time()
    try:
        for n, ev in enumerate(events):
            if rate:
                delay = start + n / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            published[ev["id"]] = time.time()
            producer.send(
                settings.topic_reviews,
                key=ev["data"]["employee_id"].encode(),
                value=json.dumps(ev).encode(),
            )
            if rate:
                producer.flush()
        producer.flush()
    finally:
        producer.close()
    deadline = time.time() + timeout
    while time.time() < deadline:
        watch.scan()
        if all(i in watch.stored for i in published):
            break
        await asyncio.sleep(0.1)
    missing = [i for i in published if i not in watch.stored]
    if missing:
        raise SystemExit(f"{len(missing)} of {len(published)} emails missing after {timeout} s")
    return published, start, max(watch.stored[i] for i in published)


async def where_time_goes(settings: Settings, employees: list[str]) -> dict[str, list[float]]:
    """Per step, durations (s) from the Temporal histories of the given employees' workflows."""
    client = await connect(settings)
    spans: dict[str, list[float]] = defaultdict(list)
    for emp in employees:
        history = await client.get_workflow_handle(workflow_id_for(emp)).fetch_history()
        scheduled: dict[int, tuple[str, float]] = {}
        started: dict[int, float] = {}
        task_scheduled = 0.0
        first = history.events[0].event_time.ToDatetime().timestamp()
        for e in history.events:
            t = e.event_time.ToDatetime().timestamp()
            if e.HasField("activity_task_scheduled_event_attributes"):
                a = e.activity_task_scheduled_event_attributes
                scheduled[e.event_id] = (a.activity_type.name, t)
            elif e.HasField("activity_task_started_event_attributes"):
                sid = e.activity_task_started_event_attributes.scheduled_event_id
                name, t0 = scheduled[sid]
                spans[f"{name}: queue wait"].append(t - t0)
                started[sid] = t
            elif e.HasField("activity_task_completed_event_attributes"):
                sid = e.activity_task_completed_event_attributes.scheduled_event_id
                spans[f"{scheduled[sid][0]}: run"].append(t - started[sid])
            elif e.HasField("workflow_task_scheduled_event_attributes"):
                task_scheduled = t
            elif e.HasField("workflow_task_completed_event_attributes"):
                # Includes the local activities (directory, planning, mail, outbound).
                spans["workflow task: scheduled -> completed"].append(t - task_scheduled)
        last = history.events[-1].event_time.ToDatetime().timestamp()
        spans["workflow start -> last event"].append(last - first)
        spans[EVENTS].append(float(len(history.events)))
    return spans


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a child process with its output in `log`."""
    return subprocess.Popen(
        args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT
    )


def cpu_line(name: str, used: dict[str, float], count: int) -> tuple[str, float]:
    """CPU milliseconds per workflow of each process over a stage, and their sum (ms)."""
    parts = [f"{k} {1000 * v / count:.1f}" for k, v in sorted(used.items()) if v > 0]
    total = 1000 * sum(used.values()) / count
    return f"  {name:<32} {total:6.1f} ms = " + ", ".join(parts), total


async def bench(
    settings: Settings, args: argparse.Namespace, people: list[Any], meter: CpuMeter
) -> None:
    """Run every stage and print the figures."""
    watch = MailWatch(settings.maildir)
    rows: list[tuple[str, int, float, float, str]] = []
    cpu: list[str] = []
    ceiling_ms: list[float] = []

    # Warm-up through the whole path (group join, caches), not measured; first, so
    # that the ceiling is not measured while our processes still start up.
    warm, burst_people, steady_people = (
        people[:5],
        people[5 : 5 + args.burst],
        people[5 + args.burst :],
    )
    await publish_and_wait(settings, [e for _, e in warm], watch, None, 120)

    async def measure_ceiling(label: str) -> float:
        meter.begin()
        rate = await ceiling(settings, args.ceiling, args.concurrency)
        line, total = cpu_line(f"ceiling: no-op workflow {label}", meter.end(), args.ceiling + 20)
        cpu.append(line)
        ceiling_ms.append(total)
        rows.append(
            (f"ceiling: no-op workflow {label}", args.ceiling, args.ceiling / rate, rate, "")
        )
        return rate

    # The ceiling is measured before the burst and after the steady load; the better of the
    # two is the one the burst is compared with (a slow ceiling would flatter the ratio).
    rate_before = await measure_ceiling("#1")
    print(f"ceiling {rate_before:.1f}/s; burst of {len(burst_people)} reviews ...", flush=True)
    meter.begin()
    published, first, last = await publish_and_wait(
        settings, [e for _, e in burst_people], watch, None, 600
    )
    line, review_ms = cpu_line(f"burst of {len(published)} reviews", meter.end(), len(published))
    cpu.append(line)
    burst_rate = len(published) / (last - first)
    lat = [watch.stored[i] - t for i, t in published.items()]
    rows.append(
        (
            f"burst of {len(published)} reviews",
            len(published),
            last - first,
            burst_rate,
            f"p50 {pct(lat, 50):.2f}  p95 {pct(lat, 95):.2f}  p99 {pct(lat, 99):.2f}",
        )
    )

    offered = burst_rate / 2
    count = min(len(steady_people), int(offered * args.steady_seconds))
    published_s, first_s, last_s = await publish_and_wait(
        settings, [e for _, e in steady_people[:count]], watch, offered, 600
    )
    lat_s = [watch.stored[i] - t for i, t in published_s.items()]
    rows.append(
        (
            f"steady at {offered:.1f}/s offered",
            count,
            last_s - first_s,
            count / (last_s - first_s),
            f"p50 {pct(lat_s, 50):.2f}  p95 {pct(lat_s, 95):.2f}  p99 {pct(lat_s, 99):.2f}",
        )
    )

    rate_ceiling = max(rate_before, await measure_ceiling("#2"))

    print()
    print(f"{'stage':<34} {'events':>7} {'seconds':>8} {'per s':>8}  latency (s)")
    for name, n, secs, rate, extra in rows:
        print(f"{name:<34} {n:>7} {secs:>8.2f} {rate:>8.1f}  {extra}")
    share = burst_rate / rate_ceiling
    p99 = pct(lat_s, 99)
    print()
    print(
        f"end-to-end burst rate / best ceiling = {burst_rate:.1f} / {rate_ceiling:.1f} = "
        f"{share:.0%}  (target >= 60 %: "
        f"{'PASS' if share >= 0.6 else 'FAIL'})"
    )
    print(
        f"sizing: {burst_rate / args.workers:.1f} reviews/s per worker process "
        f"({args.workers} worker process(es) on {os.cpu_count()} cores shared with Temporal, "
        "the broker, the sink and the bridge)"
    )
    print(
        f"p99 at half the maximum rate = {p99:.2f} s  (target <= 2 s: "
        f"{'PASS' if p99 <= 2 else 'FAIL'})"
    )

    print()
    print("CPU per workflow (ms; bench = this process: publishing, mail watch, ceiling client):")
    print("\n".join(cpu))
    # Both stages keep the 2 cores busy, so their CPU per workflow predicts the rate ratio
    # with much less noise than the rates themselves.
    print(
        f"  CPU per no-op workflow / per review = {min(ceiling_ms):.1f} / {review_ms:.1f} ms "
        f"= {min(ceiling_ms) / review_ms:.0%} (the rate ratio when both are CPU-bound)"
    )

    sample = [p.id for p, _ in burst_people[:: max(1, len(burst_people) // 30)]]
    spans = await where_time_goes(settings, sample)
    print()
    print(f"where the time goes ({len(sample)} burst workflows; mean / max seconds):")
    for name in sorted(spans):
        values = spans[name]
        if name == EVENTS:
            print(f"  {name:<44} {statistics.mean(values):>6.1f} / {max(values):.0f}")
            continue
        if name.startswith("workflow task"):
            print(f"  {'workflow tasks per workflow':<44} {len(values) / len(sample):>6.1f}")
        print(f"  {name:<44} {statistics.mean(values):>6.3f} / {max(values):.3f}")


def main() -> None:
    """Parse arguments, start the stack and the processes, run, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=1400)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    parser.add_argument("--ceiling", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="talentloop worker processes (default: one per core, as `worker --processes`)",
    )
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    settings = private_settings(
        state,
        approval_hours_over=None,
        approval_cost_over=None,
        task_queue="bench-e2e",
    )
    stack = DevStack(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        stack.up()
        sessions = session_factory(open_engine(settings.db_url))
        seed(sessions, settings.onet_dir, employees=args.employees)
        events = [(p, review_for(p, skills)) for p, skills in people_with_top_skills(sessions)]
        env = settings.to_env()
        py = sys.executable
        named: dict[str, subprocess.Popen[bytes]] = {}
        for n in range(args.workers):
            named[f"worker{n}"] = spawn(
                [py, "-m", "talentloop.cli", "worker"], env, state / f"worker{n}.log"
            )
        named["bridge"] = spawn([py, "-m", "talentloop.cli", "bridge"], env, state / "bridge.log")
        named["noop-worker"] = spawn(
            [
                py,
                str(ROOT / "bench" / "noop.py"),
                "worker",
                "--target",
                settings.temporal_target,
                "--task-queue",
                "bench-noop",
            ],
            env,
            state / "noop.log",
        )
        procs.extend(named.values())
        meter = CpuMeter({**stack.pids(), **{k: p.pid for k, p in named.items()}})
        print(
            f"stack up on {settings.temporal_target} / {settings.kafka_servers}; "
            f"{len(events)} generated employees; {args.workers} worker process(es); "
            f"{os.cpu_count()} cores shared by server, broker, sink, workers, bridge and this "
            "process"
        )
        asyncio.run(bench(settings, args, events, meter))
    finally:
        tear_down(procs, stack, state)


if __name__ == "__main__":
    main()
