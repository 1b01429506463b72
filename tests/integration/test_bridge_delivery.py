"""The bridge never loses an event and never applies one twice: kill -9 in the middle of a
batch, two bridges rebalancing, SIGTERM drain. Real broker, real Temporal dev server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from support.cli import start_talentloop
from support.delivery import (
    EMPLOYEES,
    assert_exactly_once_in_order,
    committed,
    handled_ids,
    moves,
    wait_all_handled,
)
from support.polling import eventually, wait_until
from temporalio.client import Client

from activities.directory import DirectoryActivities
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.kafka import make_consumer
from talentloop.service.publishing import publish_events

pytestmark = pytest.mark.integration


def start_bridge_process(settings: Settings) -> subprocess.Popen[bytes]:
    """`talentloop bridge` as a process of its own: to kill -9, to stop with SIGTERM."""
    return start_talentloop("bridge", env=settings.to_env(), stderr=subprocess.PIPE)


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

    async def committed_so_far() -> int:
        return sum(await asyncio.to_thread(lambda: [watcher.committed(tp) or 0 for tp in parts]))

    async def progress() -> int:
        assert first.poll() is None, "the bridge process ended"
        return await committed_so_far()

    try:
        # Kill it without warning as soon as it has committed part of the topic.
        await eventually(progress, timeout=90, interval=0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    after_kill = await committed_so_far()
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


class HoldingProxy:
    """A TCP proxy in front of Temporal that can hold the traffic: the calls made through it
    meanwhile stay in flight (sent, not answered) until `release`.

    Attributes:
        port: Where it listens (127.0.0.1).
        held_bytes: Bytes the clients sent while the traffic was held.

    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.held_bytes = 0

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        assert self._server is not None
        self._server.close()

    def hold(self) -> None:
        """Stop passing bytes on, both ways (they are kept, in order)."""
        self._flowing.clear()

    def release(self) -> None:
        """Pass on what was held, and everything after it."""
        self._flowing.set()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        await asyncio.gather(
            self._pipe(client_r, server_w, from_client=True),
            self._pipe(server_r, client_w, from_client=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        # Reading goes on while held (so that every byte sent meanwhile is counted); passing
        # on waits for `release`, in order.
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def read() -> None:
            try:
                while data := await source.read(65536):
                    if from_client and not self._flowing.is_set():
                        self.held_bytes += len(data)
                    chunks.put_nowait(data)
            finally:
                chunks.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (data := await chunks.get()) is not None:
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        finally:
            reader.cancel()
            sink.close()


async def test_sigterm_waits_for_the_records_in_flight_commits_them_and_exits_zero(
    settings: Settings, client: Client, worker: None, tmp_path: Path
) -> None:
    """SIGTERM while Temporal has not answered a batch yet: the bridge waits for the answers,
    commits, and exits 0. (Temporal's answers are held back by a proxy until the bridge says
    it is stopping, so no commit before SIGTERM can cover the batch: only the drain's.)"""
    log = tmp_path / "bridge.log"
    async with HoldingProxy(settings.host, settings.temporal_port) as proxy:
        own = lane(settings, "drain", temporal_address=f"127.0.0.1:{proxy.port}")
        first, second = moves("dra", 1), moves("drb", 5)
        with log.open("wb") as stderr:
            proc = start_talentloop("bridge", env=own.to_env(), stderr=stderr)
        try:
            await asyncio.to_thread(publish_events, own, first)
            await wait_all_handled(client, "dra", 1)

            proxy.hold()
            await asyncio.to_thread(publish_events, own, second)
            # The bridge has read the batch and called Temporal (one call per employee at a
            # time, each some hundred bytes): the calls wait in the proxy.
            await eventually(
                lambda: proxy.held_bytes >= 2048,
                timeout=60,
                interval=0.05,
                message=lambda _: f"only {proxy.held_bytes} bytes of calls reached the proxy",
            )
            assert await handled_ids(client, "drb") == {e: [] for e in EMPLOYEES}
            proc.send_signal(signal.SIGTERM)
            await eventually(
                lambda: "stopping: " in log.read_text(),
                timeout=30,
                interval=0.05,
                message="the bridge did not start stopping",
            )
            assert proc.poll() is None, "the bridge exited without waiting for its records"
            proxy.release()
            code = await asyncio.to_thread(proc.wait, 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert code == 0, log.read_text()[-3000:]
    for prefix, per_employee in (("dra", 1), ("drb", 5)):
        seen = await handled_ids(client, prefix)
        assert_exactly_once_in_order(seen, prefix, per_employee)
    offsets = committed(own)
    # Every record of the lane is behind the group's committed offsets.
    assert sum(o or 0 for o in offsets.values()) == len(first) + len(second), offsets


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
        # The partitions each member works on at the end (a tracker per partition it read).
        held_a, held_b = set(a.partitions.trackers), set(b.partitions.trackers)
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, task_b)
    # A real second member: the group split the partitions between the two, and both
    # delivered; alone, `a` would hold every partition and `b` would have read nothing.
    assert held_a and held_b and not held_a & held_b, (held_a, held_b)
    assert a.stats.signalled > 0 and b.stats.signalled > 0
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
        await eventually(
            lambda: handled_ids(client, "rw", others),
            timeout=90,
            interval=0.3,
            until=lambda seen: all(len(ids) == 2 for ids in seen.values()),
            message="the employees not held back were not handled",
        )
        await asyncio.sleep(0.5)  # a commit of what is done

        # A second member joins and leaves: two rebalances, after which this bridge owns every
        # partition again; the held records were in flight (and cancelled) at the first one.
        def join_and_leave() -> None:
            member = make_consumer(own)
            member.subscribe(own.inbound_topics)

            def assigned() -> set[TopicPartition]:
                member.poll(timeout_ms=100)  # joins the group
                return member.assignment()

            wait_until(
                assigned, timeout=60, interval=0, message="the second member got no partitions"
            )
            member.close()

        await asyncio.to_thread(join_and_leave)
        await eventually(
            lambda: bridge.stats.rebalances >= 2,
            timeout=60,
            interval=0.2,
            message=lambda _: bridge.stats,
        )
        release.set()
        seen = await wait_all_handled(client, "rw", 2, timeout=90)
    finally:
        release.set()
        stop.set()
        await task
    assert_exactly_once_in_order(seen, "rw", 2)
