"""Waiting until a condition holds: call, check, sleep, and fail with an AssertionError once a
deadline has passed. ``eventually`` for async tests (the check may be async too, may raise
while "not yet"), ``wait_until`` for code without an event loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")

Message = str | Callable[[Any], object]
"""What the AssertionError at the deadline says: a text, or made from the last result (None
when the last call raised one of the ignored exceptions)."""

_RAISED = object()


class _Deadline:
    """The bookkeeping both waits share: the deadline, what counts as done, the message."""

    def __init__(self, timeout: float, until: Callable[[Any], object], message: Message) -> None:
        self._at = time.monotonic() + timeout
        self._until = until
        self._message = message

    def done(self, result: Any) -> bool:
        """Whether `result` ends the wait; past the deadline, an AssertionError instead of False."""
        if result is not _RAISED and self._until(result):
            return True
        if time.monotonic() > self._at:
            last = None if result is _RAISED else result
            raise AssertionError(self._message(last) if callable(self._message) else self._message)
        return False


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 60.0,
    *,
    interval: float = 0.25,
    until: Callable[[T], object] = bool,
    ignoring: tuple[type[BaseException], ...] = (),
    message: Message = "condition not met in time",
) -> T:
    """Call `check` (sync or async) every `interval` seconds until `until(result)` holds (by
    default: until the result is truthy), and return that result.

    A call raising one of `ignoring` counts as "not yet". After `timeout` seconds: an
    AssertionError saying `message`.
    """

    async def attempt() -> Any:
        try:
            result = check()
            return await result if inspect.isawaitable(result) else result
        except ignoring:
            return _RAISED

    deadline = _Deadline(timeout, until, message)
    while not deadline.done(result := await attempt()):
        await asyncio.sleep(interval)
    return cast(T, result)


def wait_until(
    check: Callable[[], T],
    timeout: float = 60.0,
    *,
    interval: float = 0.25,
    message: Message = "condition not met in time",
) -> T:
    """`eventually` for code without an event loop (a thread, a sync test): call `check` every
    `interval` seconds, blocking in between, until it returns something truthy; return that."""
    deadline = _Deadline(timeout, bool, message)
    while not deadline.done(result := check()):
        time.sleep(interval)
    return result
