"""Activity calls from workflows: one table of timeouts and retry policies, one helper per kind.

Every workflow calls its activities through `call_local` (a local activity, inside the workflow
task) or `call_remote` (an activity task, on a queue of its own when given), naming the entry
of `CALLS` whose timeout and retry policy apply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, TypeVar, overload

from temporalio import workflow
from temporalio.common import RetryPolicy

A = TypeVar("A")
R = TypeVar("R")

CallKind = Literal["employee", "poll", "poll-record", "rollout-record"]


@dataclass(frozen=True)
class CallPolicy:
    """How long one attempt may take, and how attempts are retried."""

    timeout: timedelta
    retry: RetryPolicy


CALLS: Final[dict[CallKind, CallPolicy]] = {
    # The employee workflow's calls: directory, planning, LMS, mail, outbound events.
    "employee": CallPolicy(
        timedelta(seconds=60),
        RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
    ),
    # One completion poll of the LMS, and recording what it delivered.
    "poll": CallPolicy(
        timedelta(minutes=5),
        RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
    ),
    "poll-record": CallPolicy(
        timedelta(minutes=1),
        RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
    ),
    # Recording an objective-set version.
    "rollout-record": CallPolicy(
        timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(minutes=1))
    ),
}
"""Timeout and retry policy of every kind of activity call."""


@overload
async def call_local(
    method: Callable[[Any, A], Awaitable[R]], arg: A, kind: CallKind = "employee"
) -> R: ...


@overload
async def call_local(method: Callable[[Any, A], R], arg: A, kind: CallKind = "employee") -> R: ...


async def call_local(method: Callable[[Any, A], Any], arg: A, kind: CallKind = "employee") -> Any:
    """Run `method(arg)` as a local activity with the policy of `kind`."""
    policy = CALLS[kind]
    return await workflow.execute_local_activity_method(
        method, arg, start_to_close_timeout=policy.timeout, retry_policy=policy.retry
    )


@overload
async def call_remote(
    method: Callable[[Any, A], Awaitable[R]],
    arg: A,
    kind: CallKind = "employee",
    *,
    task_queue: str | None = None,
) -> R: ...


@overload
async def call_remote(
    method: Callable[[Any, A], R],
    arg: A,
    kind: CallKind = "employee",
    *,
    task_queue: str | None = None,
) -> R: ...


async def call_remote(
    method: Callable[[Any, A], Any],
    arg: A,
    kind: CallKind = "employee",
    *,
    task_queue: str | None = None,
) -> Any:
    """Run `method(arg)` as an activity task (on `task_queue` when given) with `kind`'s policy."""
    policy = CALLS[kind]
    return await workflow.execute_activity_method(
        method,
        arg,
        task_queue=task_queue,
        start_to_close_timeout=policy.timeout,
        retry_policy=policy.retry,
    )
