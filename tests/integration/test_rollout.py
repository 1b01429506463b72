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
from support.cli import talentloop
from support.polling import eventually
from temporalio.client import Client

from activities.directory import DirectoryActivities
from activities.rollout.fanout import rollout_event_id
from activities.store.tables import EmployeeRow, ObjectiveApplicationRow, ObjectiveSetRow
from schemas.rollout import RolloutProgress
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.rollout_client import progress
from talentloop.service.worker import running_worker
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

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
        talentloop, "rollout", "submit", str(objective_file(tmp_path)), "--auto-approve", env=env
    )
    assert submitted.exit_code == 0, submitted.stderr
    assert f"approved by {HR}" in submitted.stdout

    # As soon as it runs (in its canary), HR pauses it.
    async def now() -> RolloutProgress | None:
        return await progress(client, ROLLOUT)

    await eventually(now, until=lambda p: p is not None and p.status in ("canary", "gate"))
    paused = await asyncio.to_thread(
        talentloop, "rollout", "pause", SET, "--as", HR, "--reason", "check the canary", env=env
    )
    assert paused.exit_code == 0, paused.stderr
    assert f"rollout of {SET} v1: paused (check the canary)" in paused.stdout

    # Not an approver: refused.
    refused = await asyncio.to_thread(
        talentloop, "rollout", "resume", SET, "--as", "E-NOBODY", "--reason", "x", env=env
    )
    assert refused.exit_code != 0 and "not an HR rollout approver" in refused.stderr

    # Paused: once the batch in flight (if any) is done, nothing more is signalled.
    before = await eventually(
        now, until=lambda p: p is not None and p.status == "paused" and not p.in_flight
    )
    await asyncio.sleep(1.5)
    after = await now()
    assert before is not None and after is not None
    assert after.status == "paused" and after.signalled == before.signalled < after.in_scope

    resumed = await asyncio.to_thread(
        talentloop, "rollout", "resume", SET, "--as", HR, "--reason", "canary fine", env=env
    )
    assert resumed.exit_code == 0, resumed.stderr
    followed = await asyncio.to_thread(talentloop, "rollout", "status", SET, env=env)
    assert followed.exit_code == 0, followed.stderr
    assert f"rollout of {SET} v1: completed" in followed.stdout

    done = await progress(client, ROLLOUT)
    assert done is not None and done.status == "completed"
    with sessions() as s:
        everyone = sorted(s.scalars(select(EmployeeRow.id).where(EmployeeRow.active.is_(True))))
    assert done.in_scope == len(everyone) == done.signalled and done.failed == 0
    actions = [(a.action, a.by) for a in done.audit]
    assert actions.index(("paused", HR)) < actions.index(("resumed", HR))
    assert [a for a, _ in actions].count("gate passed") == 1
    assert done.waves[0].kind == "canary" and done.waves[0].signalled == 5
    assert all(w.kind == "wave" and w.signalled <= 8 for w in done.waves[1:])

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
    own: Settings, client: Client, tmp_path: Path
) -> None:
    env = own.to_env()
    path = objective_file(tmp_path)
    path.write_text(path.read_text().replace(f"id: {SET}", "id: it-cancel"), encoding="utf-8")
    submitted = await asyncio.to_thread(
        talentloop, "rollout", "submit", str(path), "--auto-approve", env=env
    )
    assert submitted.exit_code == 0, submitted.stderr

    async def now() -> RolloutProgress | None:
        return await progress(client, "rollout-it-cancel-v1")

    await eventually(now, until=lambda p: p is not None and p.status in ("canary", "gate"))
    for op in ("pause", "cancel"):
        done = await asyncio.to_thread(
            talentloop, "rollout", op, "it-cancel", "--as", HR, "--reason", "wrong quarter", env=env
        )
        assert done.exit_code == 0, done.stderr
    ended = await eventually(now, until=lambda p: p is not None and p.status == "cancelled")
    assert ended is not None and ended.reason == "wrong quarter"
    assert 0 < ended.signalled < ended.in_scope

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
