"""Temporal goes away: the bridge holds its group, commits nothing Temporal did not accept, and
delivers everything once Temporal is back. A Temporal server of its own, so the rest of the
session is not disturbed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.delivery import (
    EMPLOYEES,
    assert_exactly_once_in_order,
    committed,
    moves,
    wait_all_handled,
)
from support.polling import eventually

from talentloop.dev.devstack import DevStack
from talentloop.dev.teststack import free_ports, lane
from talentloop.service.bridge import Bridge
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events
from talentloop.service.temporal import connect
from talentloop.service.worker import running_worker

pytestmark = pytest.mark.integration

SESSION_TIMEOUT_S = 10
"""The bridge consumer's group session timeout (`make_consumer`): the outage lasts longer."""

ATTEMPTS = 8
"""Failed calls per employee before Temporal comes back: with the bridge's back-off (0.2 s,
doubling to 5 s) the eighth comes more than 16 s into the outage."""


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


async def committed_total(own: Settings) -> int:
    """Records of the lane's employee topic behind the group's committed offsets."""
    offsets = await asyncio.to_thread(committed, own)
    return sum(o or 0 for o in offsets.values())


async def wait_committed(own: Settings, expected: int) -> None:
    """Wait until the group's commits cover exactly `expected` records of the lane."""
    await eventually(
        lambda: committed_total(own),
        30,
        interval=0.2,
        until=lambda total: total == expected,
        message=lambda total: f"committed {total} records, expected {expected}",
    )


async def test_temporal_down_past_the_session_timeout_then_back(
    outage: tuple[Settings, DevStack],
) -> None:
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
            await wait_committed(own, len(before))

            await asyncio.to_thread(stack.down)
            down_at = time.monotonic()
            rebalances = bridge.stats.rebalances
            during = moves("out-b", 2)
            await asyncio.to_thread(publish_events, own, during)

            async def riding_out() -> int:
                # Checked all along the outage, not once at its end.
                assert not task.done(), "the bridge must ride out the outage"
                assert await committed_total(own) == len(before), (
                    "nothing Temporal did not accept may be committed"
                )
                return bridge.stats.temporal_retries

            # Down until every employee's first event failed ATTEMPTS times (each employee's
            # events wait behind their first): long past the group's session timeout.
            await eventually(
                riding_out,
                timeout=120,
                interval=0.5,
                until=lambda retries: retries >= ATTEMPTS * len(EMPLOYEES),
                message=lambda retries: f"{retries} retries: {bridge.stats}",
            )
            assert time.monotonic() - down_at > SESSION_TIMEOUT_S
            assert bridge.stats.consumed == len(before) + len(during)
            assert bridge.stats.rebalances == rebalances, "the bridge must keep its partitions"

            await asyncio.to_thread(stack.up, ("temporal",))
            seen = await wait_all_handled(client, "out-b", 2, timeout=120)
            assert_exactly_once_in_order(seen, "out-b", 2)
            await wait_committed(own, len(before) + len(during))
        finally:
            stop.set()
            await task
