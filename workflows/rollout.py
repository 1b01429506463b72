"""StrategyRolloutWorkflow: one per objective-set version (`rollout-<set>-v<version>`).

The first released version recorded the set, and nothing else; runs it started replay on
that path (`ROLLOUT_WAVES` not patched). Since issue 21 a rollout:

1. waits for an HR approver's decision (updates `approve` / `reject`, validated against the
   configured approvers), escalating after the SLA and applying the default after another;
2. records the version (from then on it is in force for every plan);
3. signals a canary wave of the employees in scope, then waits at the health gate for the
   canary to be applied: too many failed (or not settled in time) pauses the rollout;
4. signals the rest in waves of batches, each batch an activity paging through the directory
   from a cursor with a bounded window of signals in flight;
5. publishes `rollout.completed.v1`.

HR may pause, resume and cancel it (validated updates, audited with who and why); a newer
version of the same set, once approved, supersedes it at the next batch. Its history stays
bounded: it carries only a cursor and counts, and continues as new when long.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.calls import call_local, call_remote

with workflow.unsafe.imports_passed_through():
    from activities.objectives import ObjectiveActivities
    from activities.outbound import OutboundActivities
    from activities.rollout.fanout import RolloutActivities
    from schemas.outbound import ROLLOUT_COMPLETED, PublishRequest, RolloutCompleted, outbound_event
    from schemas.rollout import (
        ApprovalSummary,
        AuditEntry,
        ObjectiveSetEvent,
        RolloutAction,
        RolloutCarry,
        RolloutProgress,
        ScopeRequest,
        SignalBatch,
        WaveProgress,
    )
    from workflows.rollout_rules import (
        AUDIT_KEPT,
        SLA_DEFAULT_BY,
        WAVES_KEPT,
        canary_size,
        check_cancel,
        check_decision,
        check_pause,
        check_resume,
        gate_verdict,
        progress_of,
    )
    from workflows.search_attributes import OBJECTIVE_SET

ROLLOUT_WAVES = "rollout-waves"
"""Patch: approval, canary, health gate and waves (before: the version was only recorded)."""

CARRY_MEMO = "rollout-carry"
"""Memo key of the state a run continued as new starts from (`RolloutCarry`)."""

GATE_BY = "talentloop/health-gate"
"""Who the audit names when the health gate pauses a rollout."""


@workflow.defn
class StrategyRolloutWorkflow:
    """Rolls one objective-set version out."""

    def __init__(self) -> None:
        """No progress yet."""
        self._progress: RolloutProgress | None = None
        self._event: ObjectiveSetEvent | None = None
        self._c: RolloutCarry | None = None
        self._decision: tuple[bool, RolloutAction] | None = None
        self._in_flight = 0

    # -- queries and updates -------------------------------------------------------------------

    @workflow.query
    def progress(self) -> RolloutProgress | None:
        """Where the rollout is: counts per state and per wave, current wave, rate, ETA."""
        if self._c is None or self._event is None:
            return self._progress
        return progress_of(self._event, self._c, workflow.now(), self._in_flight)

    @workflow.update
    def approve(self, action: RolloutAction) -> RolloutProgress:
        """An HR approver lets the rollout start."""
        self._decision = (True, action)
        self._audit("approved", action.by, action.reason)
        self._set(status="canary")  # starting (once resumed, if it was held)
        return self._answer()

    @approve.validator
    def _check_approve(self, action: RolloutAction) -> None:
        check_decision(self._c, self._decision, action, approve=True)

    @workflow.update
    def reject(self, action: RolloutAction) -> RolloutProgress:
        """An HR approver stops the rollout before it starts."""
        self._decision = (False, action)
        self._audit("rejected", action.by, action.reason)
        return self._answer()

    @reject.validator
    def _check_reject(self, action: RolloutAction) -> None:
        check_decision(self._c, self._decision, action, approve=False)

    @workflow.update
    def pause(self, action: RolloutAction) -> RolloutProgress:
        """Stop signalling after the batch in flight, until resumed."""
        assert self._c is not None
        self._c = self._c.model_copy(update={"paused_by": action.by, "reason": action.reason})
        self._audit("paused", action.by, action.reason)
        return self._answer()

    @pause.validator
    def _check_pause(self, action: RolloutAction) -> None:
        check_pause(self._c, action)

    @workflow.update
    def resume(self, action: RolloutAction) -> RolloutProgress:
        """Go on signalling (past the health gate, if it paused the rollout)."""
        assert self._c is not None
        self._c = self._c.model_copy(update={"paused_by": None, "reason": ""})
        self._audit("resumed", action.by, action.reason)
        return self._answer()

    @resume.validator
    def _check_resume(self, action: RolloutAction) -> None:
        check_resume(self._c, action)

    @workflow.update
    def cancel(self, action: RolloutAction) -> RolloutProgress:
        """Stop for good after the batch in flight; employees signalled keep the version."""
        assert self._c is not None
        self._c = self._c.model_copy(update={"cancel": action})
        self._audit("cancelled", action.by, action.reason)
        return self._answer()

    @cancel.validator
    def _check_cancel(self, action: RolloutAction) -> None:
        check_cancel(self._c, action)

    # -- run -----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, event: ObjectiveSetEvent) -> RolloutProgress:
        """Roll the objective-set version out (runs before `ROLLOUT_WAVES`: record it only).

        A run continued as new finds where the previous one was in its memo (`CARRY_MEMO`).
        """
        if not workflow.patched(ROLLOUT_WAVES):
            return await self._record_only(event)
        self._event = event
        carry = workflow.memo_value(CARRY_MEMO, None, type_hint=RolloutCarry)
        if carry is None:
            if not await self._approved(event):
                return self._answer()
            await self._start(event)
        else:
            self._c = carry
        return await self._roll(event)

    async def _record_only(self, event: ObjectiveSetEvent) -> RolloutProgress:
        """The first released version: record the objective-set version."""
        objective_set = event.objective_set
        workflow.upsert_search_attributes(
            [OBJECTIVE_SET.value_set(f"{objective_set.id}@v{objective_set.version}")]
        )
        self._progress = RolloutProgress(
            objective_set=objective_set.id,
            version=objective_set.version,
            status="recording",
            objectives=len(objective_set.objectives),
            event_id=event.event_id,
        )
        new = await call_remote(ObjectiveActivities.record, event, "rollout-record")
        self._progress = self._progress.model_copy(
            update={"status": "recorded" if new else "already-recorded"}
        )
        return self._progress

    async def _approved(self, event: ObjectiveSetEvent) -> bool:
        """Wait for the decision: escalate after the SLA, then apply the default."""
        s = event.objective_set
        workflow.upsert_search_attributes([OBJECTIVE_SET.value_set(f"{s.id}@v{s.version}")])
        config = await call_local(RolloutActivities.config, event.workflow_id, "rollout")
        self._c = RolloutCarry(config=config, status="awaiting-approval")
        self._audit("submitted", event.source, f"event {event.event_id}")
        try:
            summary = await call_remote(RolloutActivities.preview, s, "rollout")
        except ActivityError as err:
            summary = ApprovalSummary(unavailable=f"the preview failed: {err.cause or err}")
        self._set(preview=summary)
        sla = timedelta(hours=config.approval_sla_hours)
        if not await self._until(lambda: self._decision is not None, sla):
            who = config.escalate_to or ", ".join(config.approvers) or "no approver configured"
            self._audit(
                "escalated",
                "talentloop/sla",
                f"no decision within {config.approval_sla_hours:g} h: escalated to {who}",
            )
            if not await self._until(lambda: self._decision is not None, sla):
                default = config.approval_default == "approve"
                action = RolloutAction(
                    by=SLA_DEFAULT_BY,
                    reason=f"no decision within {2 * config.approval_sla_hours:g} h: "
                    f"the default ({config.approval_default}) applies",
                )
                self._decision = (default, action)
                self._audit("approved" if default else "rejected", action.by, action.reason)
        assert self._decision is not None
        approve, action = self._decision
        if not approve:
            self._set(status="rejected", reason=action.reason)
        return approve

    async def _start(self, event: ObjectiveSetEvent) -> None:
        """Once not paused: record the version (now in force) and size the canary."""
        self._set(status="canary", started_at=workflow.now())
        await self._until(lambda: self._unpaused())
        c = self._c
        assert c is not None
        if c.cancel is not None:
            return
        new = await call_remote(ObjectiveActivities.record, event, "rollout-record")
        if not new:
            self._audit("recorded", "talentloop", "the version was recorded before")
        in_scope = await call_remote(RolloutActivities.census, self._scope(), "rollout")
        assert self._c is not None
        self._set(in_scope=in_scope, canary_size=canary_size(in_scope, self._c.config))

    async def _roll(self, event: ObjectiveSetEvent) -> RolloutProgress:
        """Canary, gate, waves, until done, cancelled or superseded."""
        while True:
            c = self._c
            assert c is not None
            if c.cancel is not None:
                return await self._finish("cancelled", c.cancel.reason)
            if c.status == "superseded":
                return await self._finish("superseded", c.reason)
            if c.status == "canary":
                if await self._wave("canary", c.canary_size):
                    self._set(status="gate")
            elif c.status == "gate":
                await self._gate()
            elif c.status == "running":
                if c.exhausted:
                    await self._settle()
                    return await self._finish("completed", "")
                await self._wave("wave", c.config.wave_size)

    async def _wave(self, kind: str, size: int) -> bool:
        """Signal one wave, a batch at a time; True when it is done (else stopped early)."""
        await self._until(lambda: self._unpaused())
        c = self._c
        assert c is not None
        if c.cancel is not None:
            return False
        if not c.waves or c.waves[-1].done:
            wave = WaveProgress(wave=c.wave + 1, kind="canary" if kind == "canary" else "wave")
            self._set(wave=wave.wave, waves=(*c.waves, wave)[-WAVES_KEPT:])
        while True:
            await self._until(lambda: self._unpaused())
            c = self._c
            assert c is not None
            if c.cancel is not None:
                return False
            wave = c.waves[-1]
            sent = wave.signalled + wave.failed
            if sent >= size or c.exhausted:
                self._set(waves=(*c.waves[:-1], wave.model_copy(update={"done": True})))
                return True
            batch = SignalBatch(
                rollout_id=self._rollout_id(),
                set_id=self._set_id(),
                version=self._version(),
                cursor=c.cursor,
                limit=min(c.config.batch_size, size - sent),
                window=c.config.window,
            )
            self._in_flight = batch.limit
            try:
                out = await call_remote(RolloutActivities.signal, batch, "rollout")
            except ActivityError as err:
                self._pause_self(f"signalling failed: {err.cause or err}")
                continue
            finally:
                self._in_flight = 0
            c = self._c
            assert c is not None
            wave = wave.model_copy(
                update={
                    "signalled": wave.signalled + out.signalled,
                    "failed": wave.failed + out.failed,
                    "first": wave.first or out.first,
                    "last": out.cursor,
                }
            )
            self._set(
                cursor=out.cursor,
                signalled=c.signalled + out.signalled,
                failed=c.failed + out.failed,
                applied=out.applied,
                exhausted=out.exhausted,
                waves=(*c.waves[:-1], wave),
            )
            if out.latest_version > self._version():
                reason = f"superseded by version {out.latest_version}"
                self._audit("superseded", "talentloop", reason)
                self._set(status="superseded", reason=reason)
                return False
            await self._maybe_continue()

    async def _gate(self) -> None:
        """Wait for the canary to be applied; too many failures, or too slow, pauses."""
        c = self._c
        assert c is not None
        canary = next((w for w in c.waves if w.kind == "canary"), None)
        if canary is None or not canary.last:  # nobody in the canary: nothing to judge
            self._set(status="running")
            return
        upto = canary.last
        waited = 0.0
        while True:
            try:
                health = await call_remote(
                    RolloutActivities.health, self._scope(upto=upto), "rollout"
                )
            except ActivityError as err:
                self._set(status="running")
                self._pause_self(f"health gate: cannot tell ({err.cause or err})")
                return
            c = self._c
            assert c is not None
            # A canary employee whose signal Temporal refused never applies: a failure too.
            health = health.model_copy(update={"failed": health.failed + canary.failed})
            verdict = gate_verdict(health, c.config, waited)
            if verdict == "wait":
                await self._until(
                    lambda: self._c is not None and self._c.cancel is not None,
                    timedelta(seconds=c.config.gate_poll_seconds),
                )
                if self._c is not None and self._c.cancel is not None:
                    return
                waited += c.config.gate_poll_seconds
                continue
            self._set(status="running")
            if verdict == "pass":
                self._audit(
                    "gate passed",
                    GATE_BY,
                    f"{health.applied} of {health.in_scope} canary employees applied, "
                    f"{health.failed} failed",
                )
            else:
                self._pause_self(f"health gate: {verdict}")
            return

    async def _settle(self) -> None:
        """Wait (as long as the gate waits) for every employee signalled to apply or fail.

        So that the outcome `rollout.completed.v1` counts is the one the employees reached.
        """
        c = self._c
        assert c is not None
        waited = 0.0
        while True:
            try:
                health = await call_remote(RolloutActivities.health, self._scope(), "rollout")
            except ActivityError:
                return  # the outcome is then counted as it stands
            self._set(applied=health.applied)
            if health.settled:
                return
            if waited >= c.config.gate_wait_seconds:
                self._audit(
                    "unsettled",
                    "talentloop",
                    f"after {waited:g} s, {health.applied} of {health.in_scope} applied and "
                    f"{health.failed} failed",
                )
                return
            await workflow.sleep(c.config.gate_poll_seconds)
            waited += c.config.gate_poll_seconds

    async def _finish(self, status: str, reason: str) -> RolloutProgress:
        """Publish `rollout.completed.v1` (a rollout that started) and end."""
        c = self._c
        assert c is not None
        self._set(status=status, reason=reason)
        if c.started_at is not None:
            try:
                await self._announce(status, c.signalled, c.started_at)
            except ActivityError as err:  # the outcome stays in the progress and the audit
                self._audit("unannounced", "talentloop", f"rollout.completed.v1: {err.cause}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._answer()

    async def _announce(self, status: str, signalled: int, started_at: datetime) -> None:
        """Publish `rollout.completed.v1` with the outcome's counts."""
        enrollments = await call_remote(
            RolloutActivities.enrollments, self._rollout_id(), "rollout"
        )
        self._set(enrollments=enrollments)
        data = RolloutCompleted(
            objective_set_id=self._set_id(),
            version=self._version(),
            outcome="completed" if status == "completed" else "cancelled",
            employees_affected=signalled,
            enrollments=enrollments,
            started_at=started_at,
            finished_at=workflow.now(),
        )
        envelope = outbound_event(
            ROLLOUT_COMPLETED,
            data,
            cause_id=f"{self._set_id()}@v{self._version()}",
            time=workflow.now(),
        )
        await call_remote(OutboundActivities.publish, PublishRequest.of(envelope), "rollout")

    # -- helpers -------------------------------------------------------------------------------

    async def _until(self, condition: object, timeout: timedelta | None = None) -> bool:
        """Wait for `condition` (a callable); False when `timeout` passed first."""
        assert callable(condition)
        try:
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:
            return False
        return True

    def _unpaused(self) -> bool:
        c = self._c
        return c is not None and (c.paused_by is None or c.cancel is not None)

    def _pause_self(self, reason: str) -> None:
        self._set(paused_by=GATE_BY, reason=reason)
        self._audit("paused", GATE_BY, reason)

    async def _maybe_continue(self) -> None:
        """Continue as new at a batch boundary once the history is long."""
        c = self._c
        assert c is not None and self._event is not None
        info = workflow.info()
        if (
            info.get_current_history_length() < c.config.history_events
            and not info.is_continue_as_new_suggested()
        ):
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        c = self._c
        assert c is not None
        workflow.continue_as_new(
            self._event, memo={CARRY_MEMO: c.model_copy(update={"runs": c.runs + 1})}
        )

    def _audit(self, action: str, by: str, reason: str) -> None:
        c = self._c
        assert c is not None
        entry = AuditEntry(at=workflow.now(), action=action, by=by, reason=reason)
        self._c = c.model_copy(update={"audit": (*c.audit, entry)[-AUDIT_KEPT:]})

    def _set(self, **changes: object) -> None:
        assert self._c is not None
        self._c = self._c.model_copy(update=changes)

    def _answer(self) -> RolloutProgress:
        found = self.progress()
        assert found is not None
        return found

    def _scope(self, *, after: str = "", upto: str = "") -> ScopeRequest:
        return ScopeRequest(
            rollout_id=self._rollout_id(),
            set_id=self._set_id(),
            version=self._version(),
            after=after,
            upto=upto,
        )

    def _rollout_id(self) -> str:
        assert self._event is not None
        return self._event.workflow_id

    def _set_id(self) -> str:
        assert self._event is not None
        return self._event.objective_set.id

    def _version(self) -> int:
        assert self._event is not None
        return self._event.objective_set.version
