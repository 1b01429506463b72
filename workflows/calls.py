"""Activity calls from workflows: one table of timeouts and retry policies, one helper per kind.

Every workflow calls its activities through `call_local` (a local activity, inside the workflow
task) or `call_remote` (an activity task, on a queue of its own when given), naming the entry
of `CALLS` whose timeout and retry policy apply.

Every retry is bounded: an activity that still fails after its kind's `give_up_after` (or its
`attempts`) raises `ActivityError` to the workflow, which records the failure where HR sees it
(the event, the item, the timeline) and carries on. Errors an activity knows to be permanent
are raised non-retryable (`activities.errors.permanent`) and are not retried at all. Runs
recorded before the bound existed (the `bounded-retries` patch) keep their unbounded policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, TypeVar, overload

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

A = TypeVar("A")
R = TypeVar("R")

CallKind = Literal["employee", "mail", "poll", "poll-record", "rollout-record", "rollout"]

BOUNDED_RETRIES = "bounded-retries"
"""Patch: every call gives up after its kind's bound (`CallPolicy.give_up_after`, `attempts`)."""


@dataclass(frozen=True)
class CallPolicy:
    """How long one attempt may take, how attempts are retried, and when to give up."""

    timeout: timedelta
    retry: RetryPolicy
    give_up_after: timedelta
    """Schedule-to-close: all attempts together, back-off included."""
    attempts: int = 0
    """At most this many attempts (0: as many as `give_up_after` allows)."""

    def bounded_retry(self) -> RetryPolicy:
        """The retry policy with its attempt bound."""
        r = self.retry
        return RetryPolicy(
            initial_interval=r.initial_interval,
            backoff_coefficient=r.backoff_coefficient,
            maximum_interval=r.maximum_interval,
            maximum_attempts=self.attempts,
            non_retryable_error_types=r.non_retryable_error_types,
        )


CALLS: Final[dict[CallKind, CallPolicy]] = {
    # The employee workflow's calls: directory, planning, LMS, outbound events. An outage of
    # up to an hour is ridden out; after that the event or item fails with the reason, and HR
    # retries it (`talentloop events retry`) once the dependency is back.
    "employee": CallPolicy(
        timedelta(seconds=60),
        RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
        give_up_after=timedelta(hours=1),
    ),
    # An email: its own activity task, which nothing else waits on, so an SMTP outage delays
    # mail only. Given up after a day (the item shows the failure).
    "mail": CallPolicy(
        timedelta(seconds=60),
        RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)),
        give_up_after=timedelta(days=1),
    ),
    # One completion poll of the LMS, and recording what it delivered. A failed poll is
    # retried by the next scheduled one.
    "poll": CallPolicy(
        timedelta(minutes=5),
        RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
        give_up_after=timedelta(minutes=30),
    ),
    "poll-record": CallPolicy(
        timedelta(minutes=1),
        RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
        give_up_after=timedelta(minutes=30),
    ),
    # Recording an objective-set version.
    "rollout-record": CallPolicy(
        timedelta(seconds=60),
        RetryPolicy(maximum_interval=timedelta(minutes=1)),
        give_up_after=timedelta(hours=1),
    ),
    # A rollout's own calls: its configuration, a batch of signals to employees, the canary's
    # health, the outcome. Temporal or the database down for an hour fails the rollout's step
    # (the rollout pauses itself and says why).
    "rollout": CallPolicy(
        timedelta(minutes=2),
        RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
        give_up_after=timedelta(hours=1),
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
    if workflow.patched(BOUNDED_RETRIES):
        try:
            return await workflow.execute_local_activity_method(
                method,
                arg,
                start_to_close_timeout=policy.timeout,
                schedule_to_close_timeout=policy.give_up_after,
                retry_policy=policy.bounded_retry(),
            )
        except ApplicationError as err:
            # A local activity's own failure reaches the workflow bare, not as the
            # ActivityError a remote one raises: give it that shape, so that every caller's
            # `except ActivityError` handles both (before, it failed the whole workflow).
            raise ActivityError(
                f"local activity {getattr(method, '__name__', method)} failed",
                scheduled_event_id=0,
                started_event_id=0,
                identity="",
                activity_type=getattr(method, "__name__", str(method)),
                activity_id="",
                retry_state=None,
            ) from err
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
    if workflow.patched(BOUNDED_RETRIES):
        return await workflow.execute_activity_method(
            method,
            arg,
            task_queue=task_queue,
            start_to_close_timeout=policy.timeout,
            schedule_to_close_timeout=policy.give_up_after,
            retry_policy=policy.bounded_retry(),
        )
    return await workflow.execute_activity_method(
        method,
        arg,
        task_queue=task_queue,
        start_to_close_timeout=policy.timeout,
        retry_policy=policy.retry,
    )
