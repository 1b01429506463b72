"""A real bridge running in the test's event loop, from its group assignment until the block
ends (then it drains, commits and leaves, as on SIGTERM)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from talentloop.service.bridge import Bridge


@asynccontextmanager
async def running(bridge: Bridge, *, stop_timeout: float = 60) -> AsyncIterator[asyncio.Task[None]]:
    """Run `bridge` until the block ends; yields its task (a test may check it is alive)."""
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    await asyncio.wait_for(bridge.assigned.wait(), 60)
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, stop_timeout)
