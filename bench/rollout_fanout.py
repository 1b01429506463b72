"""Rollout fan-out on the embedded stack: how fast does a rollout reach its employees?

One run, each figure beside its baseline measured in the same run, on the same server:

1. ``bare signal-with-start``: N signal-with-starts of an employee workflow from one client,
   a window of them in flight (what the rollout's activities do, without the rollout).
2. ``rollout fan-out``: a StrategyRolloutWorkflow over the same N employees, from approval to
   the last employee signalled, with the employee workers stopped (their task queue has no
   worker), so only the fan-out is measured; and the rollout's history length (bounded: it
   continues as new), independent of N.

Employees are GENERATED (`talentloop.dev.seed`) from a fixed seed; roles and skills are real
O*NET 29.3 data (CC BY 4.0).

Usage:
    python bench/rollout_fanout.py [--employees 2000] [--window 32] [--batch 200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.objectives import ObjectiveActivities
from activities.outbound import OutboundActivities
from activities.rollout.fanout import RolloutActivities
from activities.store.engine import open_engine, session_factory
from schemas.events import OBJECTIVES_CHANGED, InboundEvent, ObjectivesApplied
from schemas.rollout import ObjectiveSetEvent, RolloutAction, RolloutProgress
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.dev.devstack import DevStack
from talentloop.dev.seed import seed
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.kafka import make_producer
from talentloop.service.temporal import connect, register_search_attributes
from workflows.rollout import StrategyRolloutWorkflow

IDLE_QUEUE = "bench-employees-idle"
"""The employee workflows' task queue: no worker polls it (the employee side is stopped)."""

HR = "BENCH-HR"


async def bare_rate(client: Client, settings: Settings, n: int, window: int) -> float:
    """Signal-with-starts per second of N employee workflows, `window` in flight."""
    gate = asyncio.Semaphore(window)
    start_input = settings.employee_workflow_input("")

    async def one(i: int) -> None:
        employee_id = f"BARE{i:06d}"
        event = InboundEvent(
            event_id=f"bare/{employee_id}",
            type=OBJECTIVES_CHANGED,
            source="bench",
            objectives=ObjectivesApplied(employee_id=employee_id, objective_set_id="b", version=1),
        )
        async with gate:
            await client.start_workflow(
                "EmployeeLearningWorkflow",
                start_input.model_copy(update={"employee_id": employee_id}),
                id=f"employee-{employee_id}",
                task_queue=IDLE_QUEUE,
                start_signal="event",
                start_signal_args=[event],
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


async def rollout_rate(client: Client, settings: Settings) -> tuple[float, int, int, int]:
    """(employees signalled per second, employees, history length of the last run, runs)."""
    sessions = session_factory(open_engine(settings.db_url))
    rollout = RolloutActivities(
        sessions,
        client,
        config=settings.rollout_config,
        start_input=settings.employee_workflow_input(""),
        task_queue=IDLE_QUEUE,
    )
    objectives = ObjectiveActivities(sessions)
    outbound = OutboundActivities(partial(make_producer, settings), settings.topic_outbound)
    event = ObjectiveSetEvent(
        event_id="bench-set-1",
        source="bench",
        objective_set=ObjectiveSet(
            id="bench-set",
            version=1,
            effective_from=date(2026, 1, 1),
            objectives=(
                Objective(
                    id="everyone",
                    title="Everyone codes",
                    requirements=(ObjectiveRequirement(skill_id="onet:2.B.3.e", target=5.0),),
                ),
            ),
        ),
    )
    with ThreadPoolExecutor(8) as pool:
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[StrategyRolloutWorkflow],
            activities=[
                rollout.config,
                rollout.preview,
                rollout.census,
                rollout.signal,
                rollout.health,
                rollout.enrollments,
                objectives.record,
                outbound.publish,
            ],
            activity_executor=pool,
        ):
            handle = await client.start_workflow(
                StrategyRolloutWorkflow.run,
                event,
                id=event.workflow_id,
                task_queue=settings.task_queue,
            )
            while True:
                found = await handle.query(StrategyRolloutWorkflow.progress)
                if found is not None and found.status == "awaiting-approval":
                    break
                await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            await handle.execute_update(
                StrategyRolloutWorkflow.approve, RolloutAction(by=HR, reason="bench")
            )
            latest = client.get_workflow_handle(event.workflow_id, result_type=RolloutProgress)
            while True:
                p: RolloutProgress | None = await latest.query(StrategyRolloutWorkflow.progress)
                if p is not None and p.in_scope and p.signalled + p.failed >= p.in_scope:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - t0
            result: RolloutProgress = await latest.result()
            described = await latest.describe()
    outbound.close()
    return result.signalled / elapsed, result.signalled, described.history_length, result.runs


async def run(n: int, window: int, batch: int) -> None:
    """Start the stack, seed, measure both, print the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        state = Path(tmp)
        settings = private_settings(
            state,
            task_queue="bench-rollout",
            rollout_approvers=[HR],
            rollout_canary_count=0,
            rollout_canary_share=0.0,
            rollout_wave_size=max(batch, 1000),
            rollout_batch_size=batch,
            rollout_window=window,
            rollout_gate_wait_seconds=0.5,
            rollout_gate_poll_seconds=0.25,
        )
        seed(session_factory(open_engine(settings.db_url)), settings.onet_dir, employees=n)
        stack = DevStack(settings)
        stack.up(only=("temporal", "kafka"))
        try:
            client = await connect(settings)
            await register_search_attributes(client, settings.temporal_namespace)
            bare = await bare_rate(client, settings, n, window)
            rate, employees, history, runs = await rollout_rate(client, settings)
        finally:
            stack.down()
    print(f"employees: {employees:,} (window {window}, batch {batch})")
    print(f"bare signal-with-start:  {bare:,.0f} /s")
    print(f"rollout fan-out:         {rate:,.0f} /s ({rate / bare:.0%} of bare; target >= 80 %)")
    print(f"rollout history: {history} events in its last run, {runs} run(s)")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--employees", type=int, default=2000)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args(argv)
    asyncio.run(run(args.employees, args.window, args.batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
