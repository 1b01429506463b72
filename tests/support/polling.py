"""Waiting until a condition holds: call, check, sleep, and fail with an AssertionError once a
deadline has passed. ``eventually`` for async tests (the check may be async too, may raise
while "not yet"), ``wait_until`` for code without an event loop.

Nothing is swallowed: an exception the caller did not name as "not yet" (``ignoring``) ends the
wait at once, as itself; and when the deadline passes while a named one was the last result,
the AssertionError says so and is chained to it, so a real failure never shows as a bare
timeout."""

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

NotYet = tuple[type[BaseException], ...] | Callable[[BaseException], bool]
"""Exceptions that mean "not yet": exception types, or a test of the exception."""


class _Raised:
    """The result of a call that raised an exception named as "not yet"."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _not_yet(error: BaseException, ignoring: NotYet) -> bool:
    if isinstance(ignoring, tuple):
        return isinstance(error, ignoring)
    return ignoring(error)


class _Deadline:
    """The bookkeeping both waits share: the deadline, what counts as done, the message."""

    def __init__(self, timeout: float, until: Callable[[Any], object], message: Message) -> None:
        self._at = time.monotonic() + timeout
        self._timeout = timeout
        self._until = until
        self._message = message

    def done(self, result: Any) -> bool:
        """Whether `result` ends the wait; past the deadline, an AssertionError instead of False.

        The AssertionError names the exception the last call raised, if it raised one, and is
        chained to it.
        """
        raised = isinstance(result, _Raised)
        if not raised and self._until(result):
            return True
        if time.monotonic() > self._at:
            last = None if raised else result
            text = str(self._message(last) if callable(self._message) else self._message)
            if not raised:
                raise AssertionError(f"{text} (after {self._timeout:g} s)")
            error = result.error
            raise AssertionError(
                f"{text} (after {self._timeout:g} s; the last check raised "
                f"{type(error).__name__}: {error})"
            ) from error
        return False


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 60.0,
    *,
    interval: float = 0.25,
    until: Callable[[T], object] = bool,
    ignoring: NotYet = (),
    message: Message = "condition not met in time",
) -> T:
    """Call `check` (sync or async) every `interval` seconds until `until(result)` holds (by
    default: until the result is truthy), and return that result.

    A call raising an exception `ignoring` names (its types, or a test of the exception) counts
    as "not yet"; any other exception ends the wait as itself. After `timeout` seconds: an
    AssertionError saying `message` (and the exception of the last call, if it raised one).
    """

    async def attempt() -> Any:
        try:
            result = check()
            return await result if inspect.isawaitable(result) else result
        except Exception as error:
            if _not_yet(error, ignoring):
                return _Raised(error)
            raise

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
