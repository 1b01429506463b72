"""The rules a strategy rollout applies: who may act when, the canary, the gate, progress.

Pure functions beside `workflows.rollout`, so tests call them without a server.
"""

from __future__ import annotations

import math
from datetime import datetime

from schemas.rollout import (
    ObjectiveSetEvent,
    RolloutAction,
    RolloutCarry,
    RolloutConfig,
    RolloutProgress,
    ScopeHealth,
)

AUDIT_KEPT = 200
"""Audit lines a rollout keeps (the oldest go first)."""

WAVES_KEPT = 100
"""Waves a rollout's progress lists (the oldest go first; the counts keep everything)."""

SLA_DEFAULT_BY = "talentloop/sla"
"""Who the audit names when the approval's default decided."""

RUNNING = frozenset({"canary", "gate", "running"})
"""Statuses in which employees are being signalled (or about to be)."""

HOLDABLE = RUNNING | {"awaiting-approval"}
"""Statuses in which a rollout may be paused and resumed."""


def _authorised(c: RolloutCarry | None, action: RolloutAction) -> RolloutCarry:
    if c is None:
        raise ValueError("the rollout is starting: try again in a moment")
    if action.by not in c.config.approvers:
        raise ValueError(
            f"{action.by} is not an HR rollout approver (TALENTLOOP_ROLLOUT_APPROVERS)"
        )
    return c


def _needs_reason(action: RolloutAction, what: str) -> None:
    if not action.reason.strip():
        raise ValueError(f"say why you {what} (--reason)")


def check_decision(
    c: RolloutCarry | None,
    decided: tuple[bool, RolloutAction] | None,
    action: RolloutAction,
    *,
    approve: bool,
) -> None:
    """Refuse an approval or rejection that may not apply now (raises ValueError)."""
    c = _authorised(c, action)
    if c.status != "awaiting-approval" or decided is not None:
        raise ValueError(f"the rollout is not awaiting approval (it is {c.status})")
    if not approve:
        _needs_reason(action, "reject it")


def check_pause(c: RolloutCarry | None, action: RolloutAction) -> None:
    """Refuse a pause that may not apply now (raises ValueError).

    A rollout awaiting approval may be paused too: once approved, it waits to be resumed
    before it records the version and signals anyone.
    """
    c = _authorised(c, action)
    _needs_reason(action, "pause it")
    if c.status not in HOLDABLE or c.cancel is not None:
        raise ValueError(f"only a running rollout can be paused (it is {c.status})")
    if c.paused_by is not None:
        raise ValueError(f"the rollout is paused already ({c.reason})")


def check_resume(c: RolloutCarry | None, action: RolloutAction) -> None:
    """Refuse a resume that may not apply now (raises ValueError)."""
    c = _authorised(c, action)
    _needs_reason(action, "resume it")
    if c.paused_by is None or c.status not in HOLDABLE or c.cancel is not None:
        raise ValueError(f"the rollout is not paused (it is {c.status})")


def check_cancel(c: RolloutCarry | None, action: RolloutAction) -> None:
    """Refuse a cancellation that may not apply now (raises ValueError)."""
    c = _authorised(c, action)
    _needs_reason(action, "cancel it")
    if c.status not in RUNNING or c.cancel is not None:
        raise ValueError(f"only a running rollout can be cancelled (it is {c.status})")


def canary_size(in_scope: int, config: RolloutConfig) -> int:
    """Employees in the canary: the configured share, at least the count, at most everyone."""
    share = math.ceil(in_scope * config.canary_share)
    return min(in_scope, max(config.canary_count, share))


def gate_verdict(health: ScopeHealth, config: RolloutConfig, waited_s: float) -> str:
    """The gate's verdict: pass, wait, or why it stops the rollout (too many failed, too slow)."""
    n = health.in_scope
    if n and health.failed / n > config.gate_max_failed_share:
        return (
            f"{health.failed} of {n} canary employees failed "
            f"(more than {config.gate_max_failed_share:.0%})"
        )
    if health.settled:
        return "pass"
    if waited_s >= config.gate_wait_seconds:
        return (
            f"after {config.gate_wait_seconds:g} s, {health.applied} of {n} canary employees "
            f"applied and {health.failed} failed"
        )
    return "wait"


def progress_of(
    event: ObjectiveSetEvent, c: RolloutCarry, now: datetime, in_flight: int = 0
) -> RolloutProgress:
    """What the `progress` query answers, with the rate since the start and the ETA."""
    s = event.objective_set
    pending = max(0, c.in_scope - c.signalled - c.failed)
    rate = 0.0
    eta: float | None = None
    if c.started_at is not None:
        elapsed = (now - c.started_at).total_seconds()
        if elapsed > 0 and c.signalled:
            rate = c.signalled / elapsed
            eta = pending / rate
    status = "paused" if c.paused_by is not None and c.status in RUNNING else c.status
    return RolloutProgress(
        objective_set=s.id,
        version=s.version,
        status=status,
        objectives=len(s.objectives),
        event_id=event.event_id,
        in_scope=c.in_scope,
        pending=pending,
        signalled=c.signalled,
        applied=c.applied,
        failed=c.failed,
        wave=c.wave,
        waves=c.waves,
        rate_per_s=round(rate, 3),
        eta_s=None if eta is None else round(eta, 1),
        reason=c.reason,
        audit=c.audit,
        started_at=c.started_at,
        runs=c.runs,
        in_flight=in_flight,
        preview=c.preview,
        enrollments=c.enrollments,
    )
