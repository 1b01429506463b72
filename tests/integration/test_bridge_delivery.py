"""The bridge never loses an event and never applies one twice: kill -9 in the middle of a
batch, two bridges rebalancing, SIGTERM drain. Real broker, real Temporal dev server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from temporalio.client import Client

from activities.directory import DirectoryActivities
from schemas.events import EMPLOYEE_UPDATED
from schemas.learning import EmployeeLearningState
from talentloop.bridge import Bridge, directory_check
from talentloop.cli import publish_events
from talentloop.config import Settings
from talentloop.kafka import make_consumer
from talentloop.private import lane
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

pytestmark = pytest.mark.integration

EMPLOYEES = [f"E{i:05d}" for i in range(10, 26)]


def moves(prefix: str, per_employee: int) -> list[dict[str, Any]]:
    """`employee.updated` (moved) events, interleaved across employees."""
    now = datetime.now(UTC).isoformat()
    return [
        {
            "specversion": "1.0",
            "id": f"{prefix}-{emp}-{n}",
            "source": "tests",
            "type": EMPLOYEE_UPDATED,
            "time": now,
            "data": {"employee_id": emp, "change": "moved", "department": f"D{n}"},
        }
        for n in range(per_employee)
        for emp in EMPLOYEES
    ]


async def handled_ids(
    client: Client, prefix: str, employees: list[str] = EMPLOYEES
) -> dict[str, list[str]]:
    """Per employee, the ids of this test's events the workflow handled, in order."""
    out: dict[str, list[str]] = {}
    for emp in employees:
        try:
            state: EmployeeLearningState = await client.get_workflow_handle(
                workflow_id_for(emp)
            ).query(EmployeeLearningWorkflow.state)
        except Exception:
            out[emp] = []
            continue
        out[emp] = [h.event_id for h in state.history if h.event_id.startswith(prefix + "-")]
    return out


async def wait_all_handled(client: Client, prefix: str, per_employee: int, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        seen = await handled_ids(client, prefix)
        if all(len(v) >= per_employee for v in seen.values()):
            return seen
        assert time.monotonic() < deadline, {k: len(v) for k, v in seen.items()}
        await asyncio.sleep(0.5)


def assert_exactly_once_in_order(seen: dict[str, list[str]], prefix: str, per_employee: int):
    for emp, ids in seen.items():
        assert ids == [f"{prefix}-{emp}-{n}" for n in range(per_employee)], (emp, ids)


def committed(settings: Settings) -> dict[int, int | None]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
    )
    try:
        return {
            p: consumer.committed(TopicPartition(settings.topic_employees, p))
            for p in range(settings.topic_partitions)
        }
    finally:
        consumer.close()


def start_bridge_process(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "talentloop.cli", "bridge"],
        env=settings.to_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_kill_9_mid_batch_then_restart_loses_nothing_and_doubles_nothing(
    settings: Settings, client: Client, worker: None
) -> None:
    own = lane(settings, "kill9")
    events = moves("k9", 40)
    await asyncio.to_thread(publish_events, own, events)
    first = start_bridge_process(own)
    watcher = KafkaConsumer(
        bootstrap_servers=own.kafka_servers, group_id=own.consumer_group, enable_auto_commit=False
    )
    parts = [TopicPartition(own.topic_employees, p) for p in range(own.topic_partitions)]
    try:
        # Kill it without warning as soon as it has committed part of the topic.
        deadline = time.monotonic() + 90
        progress = 0
        while progress == 0:
            assert time.monotonic() < deadline and first.poll() is None
            await asyncio.sleep(0.02)
            progress = sum(
                await asyncio.to_thread(lambda: [watcher.committed(tp) or 0 for tp in parts])
            )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    after_kill = sum(await asyncio.to_thread(lambda: [watcher.committed(tp) or 0 for tp in parts]))
    watcher.close()
    assert 0 < after_kill < len(events), (
        f"committed {after_kill} of {len(events)} at the kill: the test must kill mid-way"
    )

    second = start_bridge_process(own)
    try:
        seen = await wait_all_handled(client, "k9", 40)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    assert_exactly_once_in_order(seen, "k9", 40)


async def test_sigterm_drains_commits_and_exits_zero(
    settings: Settings, client: Client, worker: None
) -> None:
    own = lane(settings, "drain")
    events = moves("dr", 5)
    await asyncio.to_thread(publish_events, own, events)
    proc = start_bridge_process(own)
    seen = await wait_all_handled(client, "dr", 5)
    await asyncio.sleep(1.5)  # at least one commit interval after the last delivery
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 60) == 0, proc.stderr.read() if proc.stderr else ""
    assert_exactly_once_in_order(seen, "dr", 5)
    offsets = committed(own)
    # Every record of the lane is behind the group's committed offsets.
    assert sum(o or 0 for o in offsets.values()) == len(events), offsets


async def test_two_bridges_rebalancing_apply_every_event_once(
    settings: Settings, client: Client, worker: None, sessions: Any
) -> None:
    own = lane(settings, "twob")
    known = directory_check(DirectoryActivities(sessions).lookup)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = Bridge(own, client, known_employee=known)
    b = Bridge(own, client, known_employee=known)
    task_a = asyncio.create_task(a.run(stop_a))
    await asyncio.wait_for(a.assigned.wait(), 60)
    batches = [moves(f"tb{i}", 3) for i in range(3)]
    await asyncio.to_thread(publish_events, own, batches[0])
    task_b = asyncio.create_task(b.run(stop_b))  # joins: the group rebalances
    await asyncio.to_thread(publish_events, own, batches[1])
    await asyncio.wait_for(b.assigned.wait(), 60)
    await asyncio.to_thread(publish_events, own, batches[2])
    try:
        for i in range(3):
            seen = await wait_all_handled(client, f"tb{i}", 3)
            assert_exactly_once_in_order(seen, f"tb{i}", 3)
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, task_b)
    assert a.stats.rebalances >= 1
    assert a.stats.signalled + b.stats.signalled >= 3 * 3 * len(EMPLOYEES)


async def test_directory_outage_holds_events_back_without_losing_or_reordering_them(
    settings: Settings, client: Client, worker: None, sessions: Any
) -> None:
    own = lane(settings, "dirdown")
    lookup = directory_check(DirectoryActivities(sessions).lookup)
    failures = 6

    async def flaky(employee_id: str) -> bool:
        nonlocal failures
        if failures > 0:
            failures -= 1
            raise ConnectionError("directory database unreachable")
        return await lookup(employee_id)

    stop = asyncio.Event()
    bridge = Bridge(own, client, known_employee=flaky)
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.wait_for(bridge.assigned.wait(), 60)
        await asyncio.to_thread(publish_events, own, moves("dd", 3))
        seen = await wait_all_handled(client, "dd", 3)
    finally:
        stop.set()
        await task
    assert_exactly_once_in_order(seen, "dd", 3)
    assert bridge.stats.directory_retries == 6
    assert bridge.stats.dead_lettered == 0


async def test_records_in_flight_at_a_rebalance_are_delivered_when_the_partition_stays(
    settings: Settings, client: Client, worker: None, sessions: Any
) -> None:
    """kafka-python keeps the fetch position of a partition this member gets back: the records
    in flight at the revocation (cancelled) must be read again, not skipped."""
    own = lane(settings, "rewind")
    lookup = directory_check(DirectoryActivities(sessions).lookup)
    # One employee per partition of the 4 (Kafka's default partitioner), so that whichever
    # partitions the bridge keeps through the rebalance, one of them has a record in flight.
    held = {"E00010", "E00013", "E00018", "E00012"}
    release = asyncio.Event()

    async def slow_for_some(employee_id: str) -> bool:
        if employee_id in held:
            await release.wait()
        return await lookup(employee_id)

    stop = asyncio.Event()
    bridge = Bridge(own, client, known_employee=slow_for_some, commit_interval=0.2)
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.wait_for(bridge.assigned.wait(), 60)
        await asyncio.to_thread(publish_events, own, moves("rw", 2))
        others = [e for e in EMPLOYEES if e not in held]
        deadline = time.monotonic() + 90
        while not all(len(ids) == 2 for ids in (await handled_ids(client, "rw", others)).values()):
            assert time.monotonic() < deadline, "the employees not held back were not handled"
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.5)  # a commit of what is done

        # A second member joins and leaves: two rebalances, after which this bridge owns every
        # partition again; the held records were in flight (and cancelled) at the first one.
        def join_and_leave() -> None:
            member = make_consumer(own)
            member.subscribe(own.inbound_topics)
            until = time.monotonic() + 60
            while not member.assignment():
                assert time.monotonic() < until, "the second member got no partitions"
                member.poll(timeout_ms=100)
            member.close()

        await asyncio.to_thread(join_and_leave)
        until = time.monotonic() + 60
        while bridge.stats.rebalances < 2:
            assert time.monotonic() < until, bridge.stats
            await asyncio.sleep(0.2)
        release.set()
        seen = await wait_all_handled(client, "rw", 2, timeout=90)
    finally:
        release.set()
        stop.set()
        await task
    assert_exactly_once_in_order(seen, "rw", 2)
