"""Temporal goes away for 20 s: the bridge holds its group, commits nothing Temporal did not
accept, and delivers everything once Temporal is back. A Temporal server of its own, so the
rest of the session is not disturbed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.delivery import assert_exactly_once_in_order, committed, moves, wait_all_handled

from talentloop.dev.devstack import DevStack
from talentloop.dev.teststack import free_ports, lane
from talentloop.service.bridge import Bridge
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events
from talentloop.service.temporal import connect
from talentloop.service.worker import running_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def outage(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, DevStack]]:
    temporal, ui = free_ports(2)
    values = lane(settings, "outage").model_dump()
    values.update(
        state_dir=tmp_path, temporal_port=temporal, temporal_ui_port=ui, task_queue="outage"
    )
    own = Settings(**values)
    stack = DevStack(own)
    stack.up(only=("temporal",))
    try:
        yield own, stack
    finally:
        stack.down()


async def test_temporal_down_20s_then_back(outage: tuple[Settings, DevStack]) -> None:
    own, stack = outage
    client = await connect(own)
    stop = asyncio.Event()
    bridge = Bridge(own, client)
    async with running_worker(client, own):
        task = asyncio.create_task(bridge.run(stop))
        try:
            before = moves("out-a", 2)
            await asyncio.to_thread(publish_events, own, before)
            await wait_all_handled(client, "out-a", 2)
            await asyncio.sleep(1.5)  # a commit interval
            assert sum(o or 0 for o in committed(own).values()) == len(before)

            await asyncio.to_thread(stack.down)
            during = moves("out-b", 2)
            await asyncio.to_thread(publish_events, own, during)
            await asyncio.sleep(20)
            assert not task.done(), "the bridge must ride out the outage"
            assert bridge.stats.temporal_retries > 0
            assert sum(o or 0 for o in committed(own).values()) == len(before), (
                "nothing Temporal did not accept may be committed"
            )

            await asyncio.to_thread(stack.up, ("temporal",))
            seen = await wait_all_handled(client, "out-b", 2, timeout=120)
            assert_exactly_once_in_order(seen, "out-b", 2)
            await asyncio.sleep(1.5)
            assert sum(o or 0 for o in committed(own).values()) == len(before) + len(during)
        finally:
            stop.set()
            await task
