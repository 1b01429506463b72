"""Inputs and outputs of the strategy rollout workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.skills import ObjectiveSet


class ObjectiveSetEvent(BaseModel):
    """A validated `objectives.changed` event, as handed to the rollout workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    source: str
    objective_set: ObjectiveSet
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def workflow_id(self) -> str:
        """`rollout-<set id>-v<version>`: one rollout per objective-set version."""
        return f"rollout-{self.objective_set.id}-v{self.objective_set.version}"


class RolloutProgress(BaseModel):
    """What the rollout's `progress` query answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective_set: str
    version: int
    status: str
    objectives: int
    event_id: str
    in_scope: int = 0
    """Employees the version applies to (before and after it)."""
    pending: int = 0
    signalled: int = 0
    applied: int = 0
    """Employees whose plan was re-assessed under it (as of the last wave)."""
    failed: int = 0
    wave: int = 0
    """The current wave (1 is the canary; 0 before it)."""
    waves: tuple[WaveProgress, ...] = ()
    rate_per_s: float = 0.0
    """Employees signalled per second since the rollout started."""
    eta_s: float | None = None
    """Seconds left at that rate (None: not known yet)."""
    reason: str = ""
    """Why it is paused, rejected, cancelled or superseded."""
    audit: tuple[AuditEntry, ...] = ()
    started_at: datetime | None = None
    runs: int = 1
    """Runs of the workflow so far (its history is bounded: each run continues as new)."""
    in_flight: int = 0
    """Employees of the batch being signalled now (a pause takes effect after it)."""
    preview: ApprovalSummary | None = None
    """The preview's figures for the approver."""
    enrollments: int | None = None
    """Enrollments its events created (built-in LMS), counted when it ended."""


RolloutStatus = Literal[
    "recording",
    "recorded",
    "already-recorded",
    "awaiting-approval",
    "rejected",
    "canary",
    "gate",
    "running",
    "paused",
    "completed",
    "cancelled",
    "superseded",
]
"""Where a rollout is; the first three are those of the recording-only first version."""

FINISHED: frozenset[str] = frozenset(
    {"recorded", "already-recorded", "rejected", "completed", "cancelled", "superseded"}
)
"""Statuses a rollout ends in."""

ROLLOUT_SOURCE = "talentloop/rollout"
"""The CloudEvents ``source`` of the ``objectives.changed`` events a rollout sends employees."""


class RolloutConfig(BaseModel):
    """How rollouts run: approvers, approval SLA, canary, health gate, waves (the settings').

    The rollout workflow reads it once, when it starts (an activity, so it is in its history).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: tuple[str, ...] = ()
    """Employee ids of the HR users who may approve, reject, pause, resume or cancel."""
    approval_sla_hours: float = Field(48.0, gt=0)
    """Hours before an undecided approval escalates; as many again, then the default applies."""
    escalate_to: str | None = None
    """Who the escalation names (e.g. the head of HR); None: every approver."""
    approval_default: Literal["approve", "reject"] = "reject"
    """The decision after the escalation's SLA."""
    canary_share: float = Field(0.05, ge=0, le=1)
    """Share of the employees in scope in the canary wave ..."""
    canary_count: int = Field(10, ge=0)
    """... but at least this many."""
    wave_size: int = Field(500, ge=1)
    """Employees per wave after the canary."""
    batch_size: int = Field(100, ge=1)
    """Employees signalled by one activity."""
    window: int = Field(32, ge=1)
    """Signals in flight at once."""
    gate_max_failed_share: float = Field(0.1, ge=0, le=1)
    """The canary passes when at most this share of its employees failed."""
    gate_wait_seconds: float = Field(1800.0, gt=0)
    """How long the gate waits for the canary's employees to be applied or failed."""
    gate_poll_seconds: float = Field(15.0, gt=0)
    """How often the gate looks."""
    history_events: int = Field(2000, ge=100)
    """Continue-as-new once the run's history is this long (at a batch boundary)."""


class RolloutAction(BaseModel):
    """An HR user's approve / reject / pause / resume / cancel, with why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str = Field(min_length=1, max_length=128)
    reason: str = Field("", max_length=2000)


class AuditEntry(BaseModel):
    """One line of a rollout's audit: what happened, who did it, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    action: str
    by: str
    reason: str = ""


class WaveProgress(BaseModel):
    """One wave: which employees (by id range) and how its signals went."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wave: int
    kind: Literal["canary", "wave"]
    signalled: int = 0
    failed: int = 0
    first: str = ""
    last: str = ""
    done: bool = False


class RolloutCarry(BaseModel):
    """What a rollout carries over continue-as-new: its position, counts and audit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: RolloutConfig
    status: RolloutStatus
    in_scope: int = 0
    canary_size: int = 0
    cursor: str = ""
    signalled: int = 0
    failed: int = 0
    applied: int = 0
    wave: int = 0
    waves: tuple[WaveProgress, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    started_at: datetime | None = None
    paused_by: str | None = None
    """Who paused it (``talentloop/health-gate`` when the gate did); None: not paused."""
    reason: str = ""
    """Why it is paused, rejected, cancelled or superseded."""
    cancel: RolloutAction | None = None
    exhausted: bool = False
    """Every employee in scope was signalled."""
    runs: int = 1
    """Runs of the workflow so far (continue-as-new starts the next)."""
    preview: ApprovalSummary | None = None
    """The preview's figures, computed while it awaited approval."""
    enrollments: int | None = None
    """Enrollments its events created, counted when it ended."""


class SignalBatch(BaseModel):
    """Input of ``rollout.signal``: signal the next employees in scope after ``cursor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rollout_id: str
    set_id: str
    version: int
    cursor: str = ""
    limit: int = Field(ge=1)
    window: int = Field(32, ge=1)


class SignalOutcome(BaseModel):
    """What one ``rollout.signal`` did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signalled: int
    failed: int
    first: str = ""
    cursor: str
    """The last employee id handled (the next batch starts after it)."""
    exhausted: bool
    """No employee in scope after ``cursor``."""
    applied: int = 0
    """Employees who applied this version (or a newer one) so far."""
    latest_version: int = 0
    """The newest recorded version of the set (a newer one supersedes this rollout)."""


class ScopeRequest(BaseModel):
    """Employees in scope of a set version, with ids in (``after``, ``upto``] (empty: open)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rollout_id: str
    set_id: str
    version: int
    after: str = ""
    upto: str = ""


class ScopeHealth(BaseModel):
    """How the employees of a range are doing with a version: applied, failed, pending."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    in_scope: int
    applied: int
    failed: int

    @property
    def settled(self) -> bool:
        """Every employee applied the version or failed it."""
        return self.applied + self.failed >= self.in_scope


class ReconcilePage(BaseModel):
    """Input of ``rollout.reconcile``: the next employees after the cursor, set by set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_set: str = ""
    """Sets ordered by id: continue with this one (empty: the first)."""
    after_employee: str = ""
    """Employees of that set after this id."""
    limit: int = Field(500, ge=1)
    """Employees looked at per page."""
    window: int = Field(32, ge=1)
    """Signals in flight at once."""


class ReconcileOutcome(BaseModel):
    """What one page of the reconciliation did, and where the next starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    looked_at: int
    behind: int
    signalled: int
    failed: int
    skipped_sets: tuple[str, ...] = ()
    """Versions in force whose rollout is still running (the rollout reaches them)."""
    after_set: str
    after_employee: str
    done: bool


class ApprovalSummary(BaseModel):
    """What the approver sees: the preview's figures for the version (issue 20's preview)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on: str = ""
    """The day the preview was computed for."""
    in_scope: int = 0
    affected: int = 0
    new_gaps: int = 0
    closed_gaps: int = 0
    enrollments_create: int = 0
    enrollments_withdraw: int = 0
    hours_total: float = 0.0
    cost_total: float = 0.0
    approvals: int = 0
    emails: int = 0
    overflow_sessions: tuple[str, ...] = ()
    unavailable: str = ""
    """Why there is no preview (the figures are then zero)."""


RolloutCarry.model_rebuild()
RolloutProgress.model_rebuild()
