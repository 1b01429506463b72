"""A strategy rollout through the real stack: `rollout submit --auto-approve` publishes the
objective set on Kafka, the bridge starts the rollout, the worker signals a canary, the health
gate waits for it; HR pauses at the gate and resumes; the waves reach every employee in scope,
each of whom handles the rollout's event exactly once and records the version applied.

The set takes effect next year, so the seeded employees' plans (which other tests check) do
not change: the rollout's mechanics are what is tested here.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.cli import start_talentloop, talentloop
from support.polling import eventually
from temporalio.client import Client

from activities.directory import DirectoryActivities
from activities.rollout.fanout import rollout_event_id
from activities.store.tables import EmployeeRow, ObjectiveApplicationRow, ObjectiveSetRow
from schemas.rollout import ObjectiveSetEvent, RolloutAction, RolloutProgress
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.rollout_client import progress
from talentloop.service.worker import running_worker
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for
from workflows.rollout import StrategyRolloutWorkflow

HR = "HR-ROLLOUT-1"
SET = "it-rollout"
ROLLOUT = f"rollout-{SET}-v1"


@pytest.fixture(scope="module")
async def own(
    client: Client, settings: Settings, sessions: sessionmaker[Session], worker: None
) -> AsyncIterator[Settings]:
    """A lane of the session stack with rollout settings, its own worker and bridge."""
    own = lane(
        settings,
        "rollout",
        task_queue="rollout-it",
        lms_task_queue="rollout-it-lms",
        rollout_approvers=[HR],
        rollout_canary_count=5,
        rollout_canary_share=0.0,
        rollout_wave_size=8,
        rollout_batch_size=4,
        rollout_gate_poll_seconds=0.5,
        rollout_gate_wait_seconds=120,
    )
    known = directory_check(DirectoryActivities(sessions).lookup)
    async with running_worker(client, own), running(Bridge(own, client, known_employee=known)):
        yield own


def objective_file(folder: Path) -> Path:
    effective = (datetime.now(UTC) + timedelta(days=365)).date()
    path = folder / "objectives.yaml"
    path.write_text(
        f"""id: {SET}
version: 1
effective_from: {effective.isoformat()}
objectives:
  - id: everyone-codes
    title: Everyone codes
    requirements:
      - skill_id: onet:2.B.3.e
        target: 5
""",
        encoding="utf-8",
    )
    return path


async def test_rollout_with_canary_pause_and_resume_applies_everyone_once(
    own: Settings, client: Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = own.to_env()
    submitted = await asyncio.to_thread(
        talentloop, "rollout", "submit", str(objective_file(tmp_path)), env=env
    )
    assert submitted.exit_code == 0, submitted.stderr
    assert "awaiting approval" in submitted.stdout

    async def now() -> RolloutProgress | None:
        return await progress(client, ROLLOUT)

    # The approver sees the preview, holds the rollout (pause), then approves it.
    await eventually(
        now, until=lambda p: p is not None and p.status == "awaiting-approval" and p.preview
    )
    shown = await asyncio.to_thread(talentloop, "rollout", "status", SET, "--once", env=env)
    assert "preview (" in shown.stdout and "employees affected" in shown.stdout
    for op, why in (("pause", "after the all-hands"), ("approve", "Q1 plan")):
        done = await asyncio.to_thread(
            talentloop, "rollout", op, SET, "--as", HR, "--reason", why, env=env
        )
        assert done.exit_code == 0, done.stderr
    assert f"rollout of {SET} v1: paused (after the all-hands)" in done.stdout

    # Not an approver: refused.
    refused = await asyncio.to_thread(
        talentloop, "rollout", "resume", SET, "--as", "E-NOBODY", "--reason", "x", env=env
    )
    assert refused.exit_code != 0 and "not an HR rollout approver" in refused.stderr

    # Approved but paused: nobody is signalled, whatever the time.
    await asyncio.sleep(1.5)
    held = await now()
    assert held is not None and held.status == "paused" and held.signalled == 0

    resumed = await asyncio.to_thread(
        talentloop, "rollout", "resume", SET, "--as", HR, "--reason", "canary fine", env=env
    )
    assert resumed.exit_code == 0, resumed.stderr
    followed = await asyncio.to_thread(talentloop, "rollout", "status", SET, env=env)
    assert followed.exit_code == 0, followed.stderr
    assert f"rollout of {SET} v1: completed" in followed.stdout

    finished = await progress(client, ROLLOUT)
    assert finished is not None and finished.status == "completed"
    with sessions() as s:
        everyone = sorted(s.scalars(select(EmployeeRow.id).where(EmployeeRow.active.is_(True))))
    assert finished.in_scope == len(everyone) == finished.signalled and finished.failed == 0
    actions = [(a.action, a.by) for a in finished.audit]
    assert actions.index(("paused", HR)) < actions.index(("approved", HR))
    assert actions.index(("approved", HR)) < actions.index(("resumed", HR))
    assert [a for a, _ in actions].count("gate passed") == 1
    assert finished.waves[0].kind == "canary" and finished.waves[0].signalled == 5
    assert all(w.kind == "wave" and w.signalled <= 8 for w in finished.waves[1:])

    # Every employee handled the rollout's event exactly once, and recorded the version.
    async def applied() -> set[str]:
        with sessions() as s:
            return set(
                s.scalars(
                    select(ObjectiveApplicationRow.employee_id).where(
                        ObjectiveApplicationRow.set_id == SET,
                        ObjectiveApplicationRow.version == 1,
                    )
                )
            )

    await eventually(applied, until=lambda found: found == set(everyone), timeout=60)
    for employee_id in everyone:
        state = await client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee_id)
        ).query(EmployeeLearningWorkflow.state)
        seen = [h for h in state.history if h.event_id == rollout_event_id(ROLLOUT, employee_id)]
        assert len(seen) == 1 and seen[0].outcome != "failed", employee_id

    listed = await asyncio.to_thread(talentloop, "rollout", "list", env=env)
    assert ROLLOUT in listed.stdout and "completed" in listed.stdout


def outbound_of_type(settings: Settings, event_type: str) -> list[dict[str, Any]]:
    """Every event of `event_type` on the settings' outbound topic."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)
    try:
        topic = settings.topic_outbound
        consumer.assign([TopicPartition(topic, p) for p in range(settings.topic_partitions)])
        consumer.seek_to_beginning()
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = [r for records in consumer.poll(500).values() for r in records]
            found.extend(json.loads(r.value) for r in batch)
            if found and not batch:
                break
        return [e for e in found if e.get("type") == event_type]
    finally:
        consumer.close()


async def test_a_cancelled_rollout_stops_and_says_so_in_rollout_completed(
    own: Settings, client: Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = own.to_env()
    path = objective_file(tmp_path)
    path.write_text(path.read_text().replace(f"id: {SET}", "id: it-cancel"), encoding="utf-8")
    submitted = await asyncio.to_thread(talentloop, "rollout", "submit", str(path), env=env)
    assert submitted.exit_code == 0, submitted.stderr

    async def now() -> RolloutProgress | None:
        return await progress(client, "rollout-it-cancel-v1")

    await eventually(now, until=lambda p: p is not None and p.status == "awaiting-approval")
    for op in ("pause", "approve", "cancel"):
        done = await asyncio.to_thread(
            talentloop, "rollout", op, "it-cancel", "--as", HR, "--reason", "wrong quarter", env=env
        )
        assert done.exit_code == 0, done.stderr
    ended = await eventually(now, until=lambda p: p is not None and p.status == "cancelled")
    assert ended is not None and ended.reason == "wrong quarter" and ended.signalled == 0
    with sessions() as s:  # never in force
        assert s.get(ObjectiveSetRow, ("it-cancel", 1)) is None

    def completed() -> list[dict[str, Any]]:
        return [
            e
            for e in outbound_of_type(own, "rollout.completed.v1")
            if e["data"]["objective_set_id"] == "it-cancel"
        ]

    events = await eventually(lambda: asyncio.to_thread(completed), timeout=30)
    assert len(events) == 1
    assert events[0]["data"]["outcome"] == "cancelled"
    assert events[0]["data"]["employees_affected"] == ended.signalled


async def test_rollback_puts_the_earlier_objectives_in_force_as_the_next_version(
    own: Settings, client: Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = own.to_env()
    path = objective_file(tmp_path)
    path.write_text(
        path.read_text()
        .replace(f"id: {SET}", "id: it-rollback")
        .replace("version: 1", "version: 2")
        .replace("target: 5", "target: 6"),
        encoding="utf-8",
    )
    first = path.with_name("v1.yaml")
    first.write_text(
        path.read_text().replace("version: 2", "version: 1").replace("target: 6", "target: 5"),
        encoding="utf-8",
    )
    for file in (first, path):
        submitted = await asyncio.to_thread(
            talentloop, "rollout", "submit", str(file), "--auto-approve", env=env
        )
        assert submitted.exit_code == 0, submitted.stderr
        version = 1 if file == first else 2

        async def finished(v: int = version) -> RolloutProgress | None:
            return await progress(client, f"rollout-it-rollback-v{v}")

        await eventually(finished, until=lambda p: p is not None and p.status == "completed")

    rolled = await asyncio.to_thread(
        talentloop, "rollout", "rollback", "it-rollback", "--to", "1", "--auto-approve", env=env
    )
    assert rolled.exit_code == 0, rolled.stderr
    assert "published it-rollback v3 (the objectives of v1)" in rolled.stdout

    async def third() -> RolloutProgress | None:
        return await progress(client, "rollout-it-rollback-v3")

    done = await eventually(third, until=lambda p: p is not None and p.status == "completed")
    assert done is not None and done.signalled == done.in_scope > 0
    with sessions() as s:
        v1 = s.get(ObjectiveSetRow, ("it-rollback", 1))
        v3 = s.get(ObjectiveSetRow, ("it-rollback", 3))
        assert v1 is not None and v3 is not None
        assert v3.body["objectives"] == v1.body["objectives"]

    again = await asyncio.to_thread(
        talentloop, "rollout", "rollback", "it-rollback", "--to", "3", env=env
    )
    assert again.exit_code != 0 and "nothing to roll back" in again.stderr


@pytest.mark.slow
async def test_a_worker_killed_mid_rollout_loses_nothing_and_doubles_nothing(
    settings: Settings, client: Client, sessions: sessionmaker[Session], own: Settings
) -> None:
    """kill -9 of the worker process running the rollout, at its health gate; another worker
    takes over from the history, and every employee is still applied exactly once."""
    kill = lane(
        settings,
        "rollout-kill",
        task_queue="rollout-kill",
        lms_task_queue="rollout-kill-lms",
        rollout_approvers=[HR],
        rollout_canary_count=4,
        rollout_canary_share=0.0,
        rollout_wave_size=4,
        rollout_batch_size=2,
        rollout_window=1,
        rollout_gate_poll_seconds=0.5,
    )
    first = start_talentloop("worker", env=kill.to_env())
    second = None
    try:
        event = ObjectiveSetEvent(
            event_id="ev-kill-1",
            source="tests",
            objective_set=ObjectiveSet(
                id="it-kill",
                version=1,
                effective_from=(datetime.now(UTC) + timedelta(days=365)).date(),
                objectives=(
                    Objective(
                        id="everyone-codes",
                        title="Everyone codes",
                        requirements=(ObjectiveRequirement(skill_id="onet:2.B.3.e", target=5),),
                    ),
                ),
            ),
        )
        handle = await client.start_workflow(
            StrategyRolloutWorkflow.run, event, id=event.workflow_id, task_queue=kill.task_queue
        )

        async def now() -> RolloutProgress | None:
            return await progress(client, event.workflow_id)

        await eventually(
            now, timeout=90, until=lambda p: p is not None and p.status == "awaiting-approval"
        )
        await handle.execute_update(
            StrategyRolloutWorkflow.approve, RolloutAction(by=HR, reason="go")
        )
        at_kill = await eventually(
            now, interval=0.05, until=lambda p: p is not None and p.status in ("gate", "running")
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert at_kill is not None and at_kill.signalled < at_kill.in_scope, (
            "the test must kill mid-way"
        )

        second = start_talentloop("worker", env=kill.to_env())
        result: RolloutProgress = await asyncio.wait_for(handle.result(), 240)
        assert result.status == "completed"
        assert result.signalled == result.in_scope and result.failed == 0
        with sessions() as s:
            everyone = sorted(s.scalars(select(EmployeeRow.id).where(EmployeeRow.active.is_(True))))
        assert result.in_scope == len(everyone)
        for employee_id in everyone:

            async def handled(e: str = employee_id) -> int:
                state = await client.get_workflow_handle_for(
                    EmployeeLearningWorkflow.run, workflow_id_for(e)
                ).query(EmployeeLearningWorkflow.state)
                return sum(
                    h.event_id == rollout_event_id(event.workflow_id, e) for h in state.history
                )

            assert await eventually(handled, timeout=60) == 1, employee_id
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
