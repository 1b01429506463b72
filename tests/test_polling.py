"""The polling helpers of the tests (tests/support/polling.py) never hide a failure: an
exception nobody named as "not yet" ends the wait at once, and a timeout names the exception
of the last check."""

from __future__ import annotations

import time

import pytest
from support.polling import eventually, wait_until


async def test_an_unexpected_exception_ends_the_wait_at_once() -> None:
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        raise KeyError("the real failure")

    started = time.monotonic()
    with pytest.raises(KeyError, match="the real failure"):
        await eventually(check, timeout=30, interval=0.01, ignoring=(ConnectionError,))
    assert calls == 1 and time.monotonic() - started < 5


async def test_a_timeout_names_the_exception_of_the_last_check() -> None:
    async def check() -> bool:
        raise ConnectionError("server unreachable")

    with pytest.raises(AssertionError) as err:
        await eventually(
            check, timeout=0.2, interval=0.01, ignoring=(ConnectionError,), message="not up"
        )
    assert str(err.value) == (
        "not up (after 0.2 s; the last check raised ConnectionError: server unreachable)"
    )
    assert isinstance(err.value.__cause__, ConnectionError)


async def test_not_yet_may_be_a_test_of_the_exception() -> None:
    answers = iter([OSError(2, "not there yet"), OSError(13, "refused"), True])

    def check() -> bool:
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    # errno 2 is "not yet"; errno 13 is a failure, reported as itself.
    with pytest.raises(PermissionError):
        await eventually(
            check, timeout=5, interval=0.01, ignoring=lambda e: getattr(e, "errno", 0) == 2
        )


async def test_a_timeout_without_an_exception_says_the_last_result() -> None:
    with pytest.raises(AssertionError, match=r"^seen 3 \(after 0.1 s\)$"):
        await eventually(
            lambda: 3,
            timeout=0.1,
            interval=0.01,
            until=lambda n: n > 3,
            message=lambda n: f"seen {n}",
        )


def test_wait_until_fails_at_its_deadline_with_the_message() -> None:
    with pytest.raises(AssertionError, match="never"):
        wait_until(lambda: False, timeout=0.1, interval=0.01, message="never")
