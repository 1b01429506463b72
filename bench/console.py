"""Console latency over a large read model, and Temporal visibility counts as the baseline.

One run seeds a fresh SQLite app database (or --url) with ``--employees`` employees (20
departments, 20 roles of 10 required skills each, 3 pieces of evidence each) and
``--items`` plan items in the read model, starts a real ``talentloop console`` process over
it, signs in as an HR admin from this process (another process than the server), and requests
each page ``--requests`` times: the overview, the coverage heatmap, a filtered list (one
department, overdue) and a random employee's page. It prints p50/p95/max per page, and the
first request's time (the heatmap is computed then and served from a 60 s cache after).

Baseline, same run: a private Temporal dev server with ``--workflows`` employee workflows
started with the search attributes the real workflows keep (``Department``, ``OverdueCount``,
``PlanState``; no worker needed), then the questions visibility can answer, timed the same
way: ``count_workflows('Department = "D07" AND OverdueCount > 0')`` and
``count_workflows('PlanState = "awaiting_approval"')``. Starting 100 000 workflows takes long;
the default baseline population is smaller and printed beside its figures.

Usage:
    python bench/console.py [--employees 100000] [--items 500000] [--requests 200]
        [--workflows 5000] [--url URL] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from activities.store.engine import open_engine, session_factory
from activities.store.readmodel import RmPlanItemRow
from activities.store.tables import (
    EmployeeRow,
    EvidenceRow,
    RoleRequirementRow,
    RoleRow,
    SkillRow,
)
from schemas.skills import ONET_LV_ID
from talentloop.console.auth import add_user
from talentloop.dev.teststack import free_ports

PASSWORD = "bench password 123"
STATES = ["enrolled"] * 5 + ["completed"] * 3 + ["overdue", "awaiting_approval", "waived"]


def seed(url: str, employees: int, items: int) -> None:
    engine = open_engine(url)
    rng = random.Random(7)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(SkillRow), [{"id": f"s{k:02d}", "name": f"Skill {k}"} for k in range(40)]
        )
        conn.execute(
            insert(RoleRow), [{"id": f"r{r:02d}", "title": f"Role {r}"} for r in range(20)]
        )
        conn.execute(
            insert(RoleRequirementRow),
            [
                {
                    "role_id": f"r{r:02d}",
                    "skill_id": f"s{(r + k * 3) % 40:02d}",
                    "level": 3.0 + (k % 3),
                    "importance": 3.0,
                    "suppressed": False,
                }
                for r in range(20)
                for k in range(10)
            ],
        )
        batch: list[dict[str, object]] = []
        evidence: list[dict[str, object]] = []
        for n in range(employees):
            role = n % 20
            batch.append(
                {
                    "id": f"E{n:06d}",
                    "name": f"Person {n}",
                    "email": f"p{n}@example.com",
                    "role_id": f"r{role:02d}",
                    "department": f"D{n % 20:02d}",
                    "manager_id": f"E{(n // 10) * 10:06d}" if n % 10 else None,
                    "locale": "en",
                    "active": True,
                }
            )
            for k in range(3):
                evidence.append(
                    {
                        "employee_id": f"E{n:06d}",
                        "skill_id": f"s{(role + k * 3) % 40:02d}",
                        "level": rng.choice([2.0, 3.0, 4.0, 5.0]),
                        "scale_id": ONET_LV_ID,
                        "source": "review_manager",
                        "observed_at": date.today() - timedelta(days=rng.randrange(200)),
                        "ref": f"rev-{n}",
                    }
                )
            if len(batch) >= 10_000:
                conn.execute(insert(EmployeeRow), batch)
                conn.execute(insert(EvidenceRow), evidence)
                batch, evidence = [], []
        if batch:
            conn.execute(insert(EmployeeRow), batch)
            conn.execute(insert(EvidenceRow), evidence)
        rows: list[dict[str, object]] = []
        per = max(1, items // employees)
        for i in range(items):
            n = (i // per) % employees
            state = rng.choice(STATES)
            created = now - timedelta(days=rng.randrange(90))
            rows.append(
                {
                    "employee_id": f"E{n:06d}",
                    "course_id": f"c{i % per:02d}-{i // (per * employees)}",
                    "title": f"Course {i % 50}",
                    "state": state,
                    "reason": "Skill 3→4 for objective Q3",
                    "source_event": f"rev-{n}",
                    "due": (created + timedelta(days=30)).date(),
                    "created_at": created,
                    "enrolled_at": created if state != "awaiting_approval" else None,
                    "completed_at": created + timedelta(days=9) if state == "completed" else None,
                    "approver_id": f"E{(n // 10) * 10:06d}"
                    if state == "awaiting_approval"
                    else None,
                    "approval_requested_at": created if state == "awaiting_approval" else None,
                    "days_overdue": 3 if state == "overdue" else None,
                    "escalations": 0,
                    "updated_at": created,
                }
            )
            if len(rows) >= 20_000:
                conn.execute(insert(RmPlanItemRow), rows)
                rows = []
        if rows:
            conn.execute(insert(RmPlanItemRow), rows)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # planner statistics, as a database in use would have
    add_user(session_factory(engine), "bench", PASSWORD, "hr_admin")
    engine.dispose()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"


def measure_console(url: str, state: Path, requests: int, employees: int) -> None:
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "TALENTLOOP_DATABASE_URL": url,
        "TALENTLOOP_STATE_DIR": str(state),
        "TALENTLOOP_CONSOLE_SECRET_KEY": "bench-secret-0123456789abcdef0123",
        "TALENTLOOP_TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    log = (state / "console.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "talentloop.cli", "console", "--port", str(port), "--no-projector"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the console did not start")
            time.sleep(0.3)
        client = httpx.Client(base_url=base, timeout=60)
        cookie = ""

        def get(path: str) -> httpx.Response:
            nonlocal cookie
            r = client.get(path, headers={"Cookie": cookie} if cookie else {})
            m = re.search(r"talentloop_session=[^;]*", r.headers.get("set-cookie", ""))
            if m:
                cookie = m.group(0)
            return r

        token = re.search(r'name="csrf_token" value="([^"]+)"', get("/login").text)
        assert token
        r = client.post(
            "/login",
            data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"Cookie": cookie},
        )
        m = re.search(r"talentloop_session=[^;]*", r.headers.get("set-cookie", ""))
        assert r.status_code == 303 and m, r.status_code
        cookie = m.group(0)
        rng = random.Random(1)
        pages = {
            "overview": lambda: "/",
            "heatmap": lambda: "/heatmap",
            "filtered list": lambda: f"/items?department=D{rng.randrange(20):02d}&overdue=1",
            "employee page": lambda: f"/employees/E{rng.randrange(employees):06d}",
        }
        for name, path in pages.items():
            t0 = time.perf_counter()
            get(path())  # warm-up (the heatmap is computed here, then cached for 60 s)
            first = time.perf_counter() - t0
            samples = []
            for _ in range(requests):
                p = path()
                t0 = time.perf_counter()
                resp = get(p)
                samples.append(time.perf_counter() - t0)
                assert resp.status_code == 200, (p, resp.status_code)
            print(
                f"console {name:<14} {percentiles(samples)}  ({requests} requests; "
                f"first {first * 1000:.1f} ms)"
            )
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


async def measure_visibility(state: Path, workflows: int, requests: int) -> None:
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from talentloop.dev.devstack import DevStack
    from talentloop.dev.teststack import private_settings
    from talentloop.service.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow
    from workflows.search_attributes import DEPARTMENT, OVERDUE_COUNT, PLAN_STATE

    settings = private_settings(state / "temporal")
    stack = DevStack(settings)
    stack.up(only=("temporal",))
    try:
        client = await connect(settings)
        inp = settings.employee_workflow_input("E0")
        gate = asyncio.Semaphore(64)
        t0 = time.perf_counter()

        async def start(n: int) -> None:
            attrs = TypedSearchAttributes(
                [
                    SearchAttributePair(DEPARTMENT, f"D{n % 20:02d}"),
                    SearchAttributePair(OVERDUE_COUNT, 1 if n % 11 == 0 else 0),
                    SearchAttributePair(
                        PLAN_STATE, "awaiting_approval" if n % 11 == 1 else "enrolled"
                    ),
                ]
            )
            async with gate:
                await client.start_workflow(
                    EmployeeLearningWorkflow.run,
                    inp.model_copy(update={"employee_id": f"E{n:06d}"}),
                    id=f"employee-bench-{n}",
                    task_queue="bench-no-worker",
                    search_attributes=attrs,
                )

        await asyncio.gather(*(start(n) for n in range(workflows)))
        print(f"baseline: started {workflows} workflows in {time.perf_counter() - t0:.1f} s")
        expected_overdue = sum(1 for n in range(workflows) if n % 11 == 0 and n % 20 == 7)
        query = 'Department = "D07" AND OverdueCount > 0'
        deadline = time.monotonic() + 120
        while (await client.count_workflows(query)).count < expected_overdue:
            if time.monotonic() > deadline:
                raise SystemExit("visibility did not catch up")
            await asyncio.sleep(0.5)
        for label, q in (
            ("overdue in one dept", query),
            ("awaiting approval", 'PlanState = "awaiting_approval"'),
        ):
            samples = []
            for _ in range(requests):
                t1 = time.perf_counter()
                await client.count_workflows(q)
                samples.append(time.perf_counter() - t1)
            print(
                f"temporal count {label:<20} {percentiles(samples)}  "
                f"({requests} requests, {workflows} workflows)"
            )
    finally:
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workflows", type=int, default=5_000)
    parser.add_argument("--url", default=None, help="app database URL (default: a temp SQLite)")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        state = Path(tmp)
        url = args.url or f"sqlite:///{state / 'app.db'}"
        t0 = time.perf_counter()
        seed(url, args.employees, args.items)
        print(
            f"seeded {args.employees} employees, {args.items} plan items "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        measure_console(url, state, args.requests, args.employees)
        if not args.no_baseline:
            asyncio.run(measure_visibility(state, args.workflows, args.requests))


if __name__ == "__main__":
    main()
