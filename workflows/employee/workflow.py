"""EmployeeLearningWorkflow: one per employee (`employee-<id>`), fed by signal-with-start.

It owns the employee's learning plan. Events (review completed, course completed, employee
updated) arrive as signals and are handled in order, each id once; approvals arrive as
validated updates; reminders, overdue notices and approval escalations are durable timers
(see `workflows.timers`). Every step of every plan item is dated and explained, and the
`state` query answers the plan, the timeline and a per-event audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

# The rules beside the workflow are pure; they are passed through with the schemas they use,
# so that the sandbox's fresh copy of the workflow shares the schema classes the activities use.
with workflow.unsafe.imports_passed_through():
    from activities.directory import DirectoryActivities
    from activities.errors import failure_text
    from activities.goals import GoalActivities
    from activities.lms.activities import LmsActivities
    from activities.mail.activities import MailActivities, message_id_for
    from activities.outbound import OutboundActivities
    from activities.planning import PlanningActivities
    from activities.policy import PolicyActivities
    from activities.skills.load import add_months, stagger_plan
    from schemas.envelope import CloudEvent
    from schemas.events import (
        COURSE_COMPLETED,
        EMPLOYEE_UPDATED,
        GOAL_CHANGED,
        OBJECTIVES_CHANGED,
        REVIEW_COMPLETED,
        EmployeeUpdated,
        InboundEvent,
    )
    from schemas.goals import GoalApplyRequest
    from schemas.learning import (
        ENROLLED_STATUSES,
        ApprovalDecision,
        CompletionRequest,
        Employee,
        EmployeeLearningState,
        EmployeeWorkflowInput,
        EnrolledCourse,
        Enrollment,
        EnrollRequest,
        EventRetry,
        GapOverride,
        ItemStatus,
        LearningPlan,
        NoticeRequest,
        NoticeState,
        NoticeStatus,
        PlanItemState,
        PlanRequest,
        ProcessedEvent,
        Recipient,
        ReviewPlanRequest,
        TimelineEntry,
        Transition,
    )
    from schemas.lms import BulkEnrollRequest, EnrollmentKey
    from schemas.outbound import (
        ENROLLMENT_CREATED,
        ENROLLMENT_OVERDUE,
        GAP_CLOSED,
        EnrollmentCreated,
        EnrollmentOverdue,
        GapClosed,
        PublishBatch,
        outbound_event,
    )
    from workflows.calls import BOUNDED_RETRIES, call_local, call_remote
    from workflows.employee import mail_keys
    from workflows.employee.approvals import (
        approval_facts,
        approver_for,
        refuse_decision,
        threshold_reason,
    )
    from workflows.employee.deadlines import (
        Deadline,
        due_deadlines,
        next_deadline,
        reminders_already_past,
    )
    from workflows.employee.dedupe import content_digest, dedupe_key
    from workflows.employee.plan_state import plan_state
    from workflows.employee.reconcile import WAIVED_WHY, reconcile
    from workflows.search_attributes import (
        DEPARTMENT,
        EMPLOYEE_ID,
        OBJECTIVE_VERSION,
        OVERDUE_COUNT,
        PLAN_STATE,
        ROLE,
    )

A = TypeVar("A")
R = TypeVar("R")

LATE_DECISIONS = "late-decisions-applied"
"""Patch: decisions queued while the run loop ended are applied or refused, never stranded."""
DECISION_REFUSALS = "decision-refusals"
"""Patch: a decision the plan could no longer apply fails its update with the reason."""
APPROVALS_TO_HR = "approvals-to-hr"
"""Patch: an employee whose manager the directory does not know yet has HR approve."""
POLICY_FROM_SETTINGS = "policy-from-settings"
"""Patch: the policy and LMS call mode are read from the settings at each step (an activity),
not frozen into the workflow input."""
MAIL_AS_ACTIVITY = "mail-as-activity"
"""Patch: an email is its own activity that the plan does not wait for (SMTP down delays mail,
never an enrollment); its state is on the item."""
SOURCE_DEDUPE = "dedupe-by-source"
"""Patch: events are known by (source, id); the same key with other content is a conflict."""
START_SIGNALS_KEPT = "start-signals-kept"
"""Patch: what signals delivered with the start counted is kept when the run begins."""
LEAVER_WAITLIST = "leaver-waitlist-withdrawn"
"""Patch: a leaver's waitlist places are withdrawn in the LMS too, and waitlisted items are
checked daily for a seat the LMS gave them (then enrolled, with reminders)."""
LEARNING_LOAD = "learning-load"
"""Patch: a plan is staggered within the employee's learning-hours budget; what does not fit
the next three months is scheduled (a durable timer enrolls it when its month comes)."""
GOALS = "goals"
"""Patch: `goal.changed.v1` events are recorded (with their alignment) and re-plan."""
GAP_OVERRIDES = "gap-overrides"
"""Patch: HR's waiver or restoration of a gap re-plans at once (the `gaps_changed` update)."""
DECISION_REFUSED = "DecisionRefused"
"""``ApplicationError.type`` of a decision that was accepted but could no longer be applied."""

FAILED_EVENTS_KEPT = 20
"""How many failed events are kept for HR to retry (the latest)."""
DEADLINE_BACKOFF = (timedelta(minutes=1), timedelta(hours=1))
"""First and longest wait before a deadline whose step failed is tried again."""
WAITLIST_CHECK_EVERY = timedelta(days=1)
"""How often a waitlisted item asks the LMS whether a seat came free for it."""
SEEN_IDS_KEPT = 2000
"""How many recent event ids are carried across continue-as-new for deduplication."""
EVENTS_PER_RUN = 200
"""Events handled in one run before continuing as new."""
HISTORY_KEPT = 50
"""Audit lines and timeline entries kept in the queryable state (all are in the history)."""
IDLE_BEFORE_CONTINUE = timedelta(days=30)
"""A run with nothing scheduled and idle this long continues as new."""


def workflow_id_for(employee_id: str) -> str:
    """The workflow id of an employee's learning workflow."""
    return f"employee-{employee_id}"


def _override_id(change: GapOverride, at: datetime) -> str:
    """The cause id of a re-plan after an override (the audit line's event id)."""
    return f"gaps:{change.action}:{change.skill_id}:{at:%Y%m%dT%H%M%S.%f}"


def _course_line(item: PlanItemState) -> EnrolledCourse:
    return EnrolledCourse(
        course_id=item.course_id,
        title=item.title,
        hours=item.hours,
        due=item.due,
        reason=item.reason,
    )


def _recipient(employee: Employee) -> Recipient:
    return Recipient(
        id=employee.id, name=employee.name, email=employee.email, locale=employee.locale
    )


@workflow.defn
class EmployeeLearningWorkflow:
    """Owns one employee's learning plan, from review to completion."""

    def __init__(self) -> None:
        """Empty state; `run` restores it from its input."""
        self._queue: list[InboundEvent] = []
        self._seen: list[str] = []
        self._seen_set: set[str] = set()
        self._content: dict[str, str] = {}
        self._failed: list[InboundEvent] = []
        self._overrides: list[tuple[GapOverride, str]] = []
        self._mail: set[asyncio.Future[None]] = set()
        # A deadline step that failed (its dependency down) is tried again from this time on.
        self._deadlines_held_until: datetime | None = None
        self._deadline_failures = 0
        self._decisions: list[ApprovalDecision] = []
        # Why a queued decision was not applied, by course id (answered as an update failure).
        self._refusals: dict[str, str] = {}
        # Set once the run loop has ended: no decision is accepted any more.
        self._closing = False
        self._state = EmployeeLearningState(employee_id="")
        self._inp = EmployeeWorkflowInput(employee_id="")
        self._attributes: dict[str, SearchAttributeUpdate[Any]] = {}

    # -- signals, updates, queries ------------------------------------------------------------

    @workflow.signal
    def event(self, ev: InboundEvent) -> None:
        """Accept an event; one seen already is counted and dropped (see `dedupe`)."""
        if workflow.patched(SOURCE_DEDUPE):
            self._accept(ev)
            return
        if ev.event_id in self._seen_set:
            self._set(duplicates_ignored=self._state.duplicates_ignored + 1)
            return
        self._remember(ev.event_id)
        self._set(events_received=self._state.events_received + 1)
        self._queue.append(ev)

    def _accept(self, ev: InboundEvent) -> None:
        key, digest = dedupe_key(ev), content_digest(ev)
        if key in self._seen_set or ev.event_id in self._seen_set:
            first = self._content.get(key)
            if first is not None and first != digest:
                self._set(conflicts_ignored=self._state.conflicts_ignored + 1)
                self._note(
                    "conflicting-duplicate",
                    f"event {ev.event_id} from {ev.source} came again with other content: "
                    "the first one stands",
                    event_id=ev.event_id,
                )
            else:
                self._set(duplicates_ignored=self._state.duplicates_ignored + 1)
            return
        self._remember(key)
        self._content[key] = digest
        self._set(events_received=self._state.events_received + 1)
        self._queue.append(ev)

    @workflow.update
    async def retry_events(self, req: EventRetry) -> list[str]:
        """HR re-applies failed events (one, or all) once their cause is fixed.

        Returns the ids queued again; each is handled like a new arrival, audited with who asked.
        """
        chosen = [e for e in self._failed if req.event_id in ("", e.event_id)]
        for ev in chosen:
            self._failed.remove(ev)
            why = f": {req.reason}" if req.reason else ""
            self._note(
                "retry", f"event {ev.event_id} retried by {req.by}{why}", event_id=ev.event_id
            )
            self._queue.append(ev)
        return [e.event_id for e in chosen]

    @retry_events.validator
    def _validate_retry(self, req: EventRetry) -> None:
        if self._closing:
            raise ValueError(f"the plan of employee {self._inp.employee_id} is closing")
        if not req.by.strip():
            raise ValueError("say who retries (--as)")
        if not any(req.event_id in ("", e.event_id) for e in self._failed):
            known = ", ".join(e.event_id for e in self._failed) or "none"
            raise ValueError(
                f"no failed event {req.event_id or ''} to retry for employee "
                f"{self._inp.employee_id} (failed events kept: {known})".replace("  ", " ")
            )

    @workflow.update
    async def gaps_changed(self, change: GapOverride) -> str:
        """HR waived or restored a gap (already in the app database): note it and re-plan.

        Returns the outcome of the re-plan (e.g. "no-new-enrollment", "enrolled").
        """
        queued = (change, _override_id(change, workflow.now()))
        self._overrides.append(queued)
        await workflow.wait_condition(lambda: queued not in self._overrides)
        line = next((h for h in reversed(self._state.history) if h.event_id == queued[1]), None)
        return line.outcome if line else "recorded"

    @gaps_changed.validator
    def _validate_gaps_changed(self, change: GapOverride) -> None:
        if self._closing or self._state.left:
            raise ValueError(f"the plan of employee {self._inp.employee_id} is closing")
        if not change.by.strip():
            raise ValueError("say who changes the gap (--by)")

    @workflow.update
    async def decide(self, decision: ApprovalDecision) -> PlanItemState:
        """A manager approves or rejects a pending item; returns the item once applied."""
        self._decisions.append(decision)
        await workflow.wait_condition(lambda: decision not in self._decisions)
        refusal = self._refusals.pop(decision.course_id, None)
        if refusal is not None:
            raise ApplicationError(refusal, type=DECISION_REFUSED, non_retryable=True)
        return self._item_or_fail(decision.course_id)

    @decide.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        if self._closing:
            raise ValueError(f"the plan of employee {self._inp.employee_id} is closing")
        refusal = refuse_decision(self._item(decision.course_id), decision, self._decisions)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.query
    def state(self) -> EmployeeLearningState:
        """The plan with reasons, the timeline, and the audit of recent events."""
        return self._state

    # -- main loop ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: EmployeeWorkflowInput) -> EmployeeLearningState:
        """Handle events, decisions and deadlines until it is time to continue as new."""
        self._inp = inp
        early = self._state  # what signals delivered with the start recorded
        self._state = inp.state or EmployeeLearningState(employee_id=inp.employee_id)
        if workflow.patched(START_SIGNALS_KEPT):
            self._set(
                events_received=self._state.events_received + early.events_received,
                duplicates_ignored=self._state.duplicates_ignored + early.duplicates_ignored,
                conflicts_ignored=self._state.conflicts_ignored + early.conflicts_ignored,
                timeline=[*self._state.timeline, *early.timeline][-HISTORY_KEPT:],
            )
        for event_id in inp.seen_event_ids:
            self._remember(event_id)
        self._content = {**inp.seen_content, **self._content}
        self._failed = list(inp.failed_events)
        self._queue = list(inp.pending) + self._queue
        self._want(EMPLOYEE_ID.value_set(inp.employee_id))
        handled = 0
        while not self._state.left:
            deadline = next_deadline(
                self._state.items, self._inp.policy, waitlist_every=self._waitlist_every()
            )
            if deadline is not None and self._deadlines_held_until is not None:
                deadline = Deadline(
                    max(deadline.at, self._deadlines_held_until),
                    deadline.kind,
                    deadline.course_id,
                    deadline.days_before,
                )
            if not (self._queue or self._decisions or self._overrides):
                wait = deadline.at - workflow.now() if deadline else IDLE_BEFORE_CONTINUE
                try:
                    if wait > timedelta(0):
                        await workflow.wait_condition(
                            lambda: bool(self._queue or self._decisions or self._overrides),
                            timeout=wait,
                        )
                except TimeoutError:
                    if deadline is None:
                        break
            if workflow.patched(POLICY_FROM_SETTINGS):
                await self._refresh_policy()
            await self._deadlines_due()
            await self._apply_decisions()
            await self._apply_overrides()
            while self._queue and handled < EVENTS_PER_RUN and not self._state.left:
                ev = self._queue.pop(0)
                self._audit(await self._handle(ev))
                handled += 1
            self._publish_state()
            if handled >= EVENTS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                break
        if workflow.patched(LATE_DECISIONS):
            # A decision that came in while the loop handled its last events is applied now
            # (or refused, if the employee left): its update handler waits for that, and
            # this run waits for its handlers.
            self._closing = True
            if self._state.left:
                for decision in self._decisions:
                    self._refusals[decision.course_id] = (
                        f"employee {self._inp.employee_id} left: no approval is pending for "
                        f"course {decision.course_id}"
                    )
                self._decisions.clear()
            else:
                await self._apply_decisions()
                await self._apply_overrides()
                self._publish_state()
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Emails still going out are waited for: their outcome belongs on the items.
        await workflow.wait_condition(lambda: not self._mail)
        if self._state.left:
            return self._state
        workflow.continue_as_new(
            self._inp.model_copy(
                update={
                    "seen_event_ids": list(self._seen),
                    "seen_content": {k: v for k, v in self._content.items() if k in self._seen_set},
                    "failed_events": self._failed[-FAILED_EVENTS_KEPT:],
                    "pending": list(self._queue),
                    "state": self._state,
                }
            )
        )

    def _waitlist_every(self) -> timedelta | None:
        """How often waitlisted items ask the LMS for a seat (None: never, before the patch)."""
        return WAITLIST_CHECK_EVERY if workflow.patched(LEAVER_WAITLIST) else None

    async def _deadlines_due(self) -> None:
        """Act on every deadline that has come; a step whose dependency is down waits a while.

        The failure is on the timeline, the other events go on, and the step is tried again
        after a back-off (doubling from a minute to an hour), since its deadline stays due.
        """
        now = workflow.now()
        if self._deadlines_held_until is not None and now < self._deadlines_held_until:
            return
        bounded = workflow.patched(BOUNDED_RETRIES)
        due = due_deadlines(
            self._state.items, self._inp.policy, now, waitlist_every=self._waitlist_every()
        )
        for deadline in due:
            try:
                await self._on_deadline(deadline)
            except ActivityError as err:
                if not bounded:
                    raise
                first, longest = DEADLINE_BACKOFF
                wait = min(longest, first * 2**self._deadline_failures)
                self._deadline_failures += 1
                self._deadlines_held_until = workflow.now() + wait
                self._note(
                    "deadline-failed",
                    f"{deadline.kind} could not be done now ({failure_text(err)}); "
                    f"tried again in {int(wait.total_seconds() // 60)} min",
                    course_id=deadline.course_id,
                )
                return
        self._deadlines_held_until, self._deadline_failures = None, 0

    # -- events -------------------------------------------------------------------------------

    async def _handle(self, ev: InboundEvent) -> ProcessedEvent:
        try:
            if ev.type == REVIEW_COMPLETED and ev.review is not None:
                return await self._after_review(ev)
            if ev.type == COURSE_COMPLETED and ev.completion is not None:
                return await self._after_completion(ev)
            if ev.type == EMPLOYEE_UPDATED and ev.employee_update is not None:
                return await self._after_update(ev, ev.employee_update)
            if ev.type == OBJECTIVES_CHANGED and ev.objectives is not None:
                return await self._after_objectives(ev)
            if ev.type == GOAL_CHANGED and ev.goal is not None and workflow.patched(GOALS):
                return await self._after_goal(ev)
            return ProcessedEvent(event_id=ev.event_id, type=ev.type, outcome="recorded")
        except ActivityError as err:
            reason = failure_text(err)
            workflow.logger.warning("event %s failed: %s", ev.event_id, reason)
            self._note("error", f"event {ev.event_id} failed: {reason}", event_id=ev.event_id)
            self._failed = [*self._failed, ev][-FAILED_EVENTS_KEPT:]
            return ProcessedEvent(
                event_id=ev.event_id, type=ev.type, outcome="failed", error=reason
            )

    async def _after_review(self, ev: InboundEvent) -> ProcessedEvent:
        assert ev.review is not None
        reviewed = await call_local(
            PlanningActivities.plan_review,
            ReviewPlanRequest(
                employee_id=self._inp.employee_id,
                event_id=ev.event_id,
                review=ev.review,
                event_time=ev.time,
            ),
        )
        self._want_employee(reviewed.employee)
        return await self._apply_plan(reviewed.employee, reviewed.planned, ev.event_id, ev.type)

    async def _apply_plan(
        self, employee: Employee, planned: LearningPlan, cause: str, etype: str
    ) -> ProcessedEvent:
        """Apply the difference between the plan and the items: waive, propose, enroll."""
        change = reconcile(
            self._state.items,
            planned,
            self._inp.policy,
            now=workflow.now(),
            cause=cause,
            has_manager=bool(employee.manager_id),
        )
        for course_id in change.waive:
            self._move(course_id, "waived", WAIVED_WHY)
        for item in change.proposed:
            self._upsert(item)
        awaiting = [self._item_or_fail(c) for c in change.need_approval]
        to_enroll = self._stagger(employee, planned, change.enroll)
        enrolled: list[EnrolledCourse] = []
        await asyncio.gather(*(self._request_approval(employee, i) for i in awaiting))
        enrolled_ids, announcements = await self._enroll_many(employee, to_enroll, cause)
        for course_id in enrolled_ids:
            enrolled.append(_course_line(self._item_or_fail(course_id)))
        # The announcements go out beside the email, not before it.
        publishing = asyncio.ensure_future(self._publish_all(announcements))
        uncoverable = [f"{u.gap.skill_name}: {u.reason}" for u in planned.plan.uncoverable]
        for text in uncoverable:
            self._note("uncoverable", text, event_id=cause)
        emails = []
        if enrolled or awaiting:
            sent = await self._notify(
                mail_keys.enrollment(cause),
                "enrollment",
                _recipient(employee),
                employee,
                enrolled,
                uncoverable=uncoverable,
                pending=[_course_line(self._item_or_fail(i.course_id)) for i in awaiting],
            )
            emails += [sent] if sent else []
        await publishing
        if planned.objective_sets:
            self._want(OBJECTIVE_VERSION.value_set(",".join(planned.objective_sets)))
        outcome = (
            "enrolled" if enrolled else ("awaiting-approval" if awaiting else "no-new-enrollment")
        )
        return ProcessedEvent(
            event_id=cause,
            type=etype,
            outcome=outcome,
            gaps=planned.gaps,
            enrolled=enrolled,
            uncoverable=uncoverable,
            emails=emails,
        )

    def _stagger(
        self, employee: Employee, planned: LearningPlan, course_ids: list[str]
    ) -> list[str]:
        """Fit the courses to enroll into the employee's learning-hours budget.

        Each gets its staggered due date (an objective's earlier due date stays); those due
        beyond the next three months are scheduled for the month they start in (enrolled
        then, by a durable timer). Returns the courses to enroll now. Without a budget (or
        before the patch): all of them, as they were.
        """
        policy = self._inp.policy
        hours = policy.hours_for(employee.role_id, employee.department)
        if not course_ids or hours is None or not workflow.patched(LEARNING_LOAD):
            return course_ids
        today = workflow.now().date()
        default_due = today + timedelta(days=policy.due_days)
        wanted = set(course_ids)
        plan_items = [i for i in planned.plan.items if i.course_id in wanted]
        now_ids: set[str] = set()
        for slot in stagger_plan(
            plan_items, start=today, hours_per_month=hours, horizon=add_months(today, 3)
        ):
            item = self._item_or_fail(slot.course_id)
            due = slot.due
            if item.due is not None and item.due != default_due:
                due = min(due, item.due)  # an objective's due date
            if slot.deferred_until is None or slot.deferred_until <= today:
                # (a course longer than the next three months that starts now is enrolled now)
                self._upsert(item.model_copy(update={"due": due}))
                now_ids.add(slot.course_id)
            else:
                self._move(
                    slot.course_id,
                    "scheduled",
                    f"{slot.note()}: {hours:g} h a month leave no room before then",
                    due=due,
                    enroll_on=slot.deferred_until,
                )
        return [c for c in course_ids if c in now_ids]

    async def _after_completion(self, ev: InboundEvent) -> ProcessedEvent:
        assert ev.completion is not None
        completion = ev.completion
        employee = await self._employee()
        item = self._item(completion.course_id)
        if item is not None and item.status != "completed":
            self._move(
                item.course_id, "completed", f"completed on {completion.completed_at.date()}"
            )
        outcome = await call_local(
            PlanningActivities.record_completion,
            CompletionRequest(
                employee=employee,
                course_id=completion.course_id,
                completed_at=completion.completed_at,
                event_id=ev.event_id,
            ),
        )
        closed = []
        for gap in outcome.closed:
            self._note(
                "gap-closed", f"{gap.skill_name} reached {gap.target:g}", event_id=ev.event_id
            )
            closed.append(
                self._outbound(
                    GAP_CLOSED,
                    GapClosed(
                        employee_id=employee.id,
                        skill_id=gap.skill_id,
                        from_level=round(gap.current, 2),
                        to_level=round(outcome.levels.get(gap.skill_id, gap.target), 2),
                        target_level=round(gap.target, 2),
                        objective_id=gap.objective_id,
                        closed_by="course",
                        closed_by_ref=completion.course_id,
                    ),
                    ev.event_id,
                )
            )
        await self._publish_all(closed)
        title = item.title if item else completion.course_id
        facts = {
            "closed": ", ".join(g.skill_name for g in outcome.closed),
            "remaining": ", ".join(g.skill_name for g in outcome.remaining),
        }
        line = EnrolledCourse(
            course_id=completion.course_id,
            title=title,
            hours=item.hours if item else 0,
            due=item.due if item else None,
            reason=item.reason if item else "",
        )
        emails = []
        sent = await self._notify(
            mail_keys.completed(employee.id, completion.course_id),
            "completed",
            _recipient(employee),
            employee,
            [line],
            facts=facts,
        )
        emails += [sent] if sent else []
        replanned: ProcessedEvent | None = None
        if outcome.remaining:
            planned = await self._plan(
                PlanRequest(employee=employee, event_id=ev.event_id, on=workflow.now().date())
            )
            replanned = await self._apply_plan(employee, planned, ev.event_id, ev.type)
        return ProcessedEvent(
            event_id=ev.event_id,
            type=ev.type,
            outcome="completed",
            gaps=outcome.remaining,
            enrolled=replanned.enrolled if replanned else [],
            emails=emails,
        )

    async def _after_objectives(self, ev: InboundEvent) -> ProcessedEvent:
        """A rollout's objective-set version is in force: re-assess and apply the difference."""
        assert ev.objectives is not None
        applied = ev.objectives
        self._note(
            "objectives",
            f"objectives {applied.objective_set_id}@v{applied.version} apply",
            event_id=ev.event_id,
        )
        employee = await self._employee()
        planned = await self._plan(
            PlanRequest(
                employee=employee, event_id=ev.event_id, on=workflow.now().date(), applies=applied
            )
        )
        return await self._apply_plan(employee, planned, ev.event_id, ev.type)

    async def _after_goal(self, ev: InboundEvent) -> ProcessedEvent:
        """A goal was set, changed, completed or cancelled: record it and re-plan.

        Its alignment is on the timeline and published; a goal's skills are one more source
        of requirements, and a closed goal's go (their open items are waived).
        """
        applied = await call_local(
            GoalActivities.apply_activity, GoalApplyRequest.of(ev, on=workflow.now().date())
        )
        why = f": {applied.reason}" if applied.reason else ""
        self._note(
            "goal",
            f"goal {applied.goal_id} is {applied.status}, {applied.alignment}{why}",
            event_id=ev.event_id,
        )
        kind, data = applied.outbound()
        await self._publish_all([self._outbound(kind, data, ev.event_id)])
        if not applied.changed:
            return ProcessedEvent(event_id=ev.event_id, type=ev.type, outcome="recorded")
        employee = await self._employee()
        planned = await self._plan(
            PlanRequest(employee=employee, event_id=ev.event_id, on=workflow.now().date())
        )
        return await self._apply_plan(employee, planned, ev.event_id, ev.type)

    async def _after_update(self, ev: InboundEvent, update: EmployeeUpdated) -> ProcessedEvent:
        employee = await call_local(DirectoryActivities.apply_update, update)
        if update.change == "left":
            in_lms = set(ENROLLED_STATUSES)
            if workflow.patched(LEAVER_WAITLIST):
                in_lms.add("waitlisted")  # else the LMS may give a leaver a seat later
            for item in list(self._state.items):
                if item.status in in_lms:
                    await self._lms(
                        LmsActivities.withdraw,
                        EnrollmentKey(employee_id=self._inp.employee_id, course_id=item.course_id),
                    )
                if item.is_open:
                    self._move(item.course_id, "withdrawn", "the employee left")
            self._note(
                "left", "the employee left: open enrollments withdrawn", event_id=ev.event_id
            )
            self._set(left=True)
            return ProcessedEvent(event_id=ev.event_id, type=ev.type, outcome="left")
        if employee is None:
            return ProcessedEvent(event_id=ev.event_id, type=ev.type, outcome="recorded")
        if update.manager_id is not None:
            for item in self._state.items:
                if item.status == "awaiting_approval" and item.escalations == 0:
                    self._upsert(item.model_copy(update={"approver_id": update.manager_id}))
                    await self._notify(
                        mail_keys.approval_request(employee.id, item.course_id, update.manager_id),
                        "approval_request",
                        await self._recipient_of(update.manager_id),
                        employee,
                        [_course_line(item)],
                        facts=self._approval_facts(item),
                    )
            self._note("manager", f"manager is now {update.manager_id}", event_id=ev.event_id)
        if update.role_id is not None or update.department is not None:
            planned = await self._plan(
                PlanRequest(employee=employee, event_id=ev.event_id, on=workflow.now().date())
            )
            return await self._apply_plan(employee, planned, ev.event_id, ev.type)
        return ProcessedEvent(event_id=ev.event_id, type=ev.type, outcome="recorded")

    # -- approvals ----------------------------------------------------------------------------

    def _approval_facts(self, item: PlanItemState) -> dict[str, str]:
        return approval_facts(item, self._inp.policy, workflow.now())

    async def _request_approval(self, employee: Employee, item: PlanItemState) -> PlanItemState:
        assert employee.manager_id is not None
        approver, why_not_manager = employee.manager_id, None
        if workflow.patched(APPROVALS_TO_HR):
            approver, why_not_manager = approver_for(employee, self._inp.policy)
        if why_not_manager:
            self._note("approver", why_not_manager, course_id=item.course_id)
        item = self._move(
            item.course_id,
            "awaiting_approval",
            threshold_reason(item),
            approver_id=approver,
            approval_requested_at=workflow.now(),
        )
        await self._notify(
            mail_keys.approval_request(employee.id, item.course_id, approver),
            "approval_request",
            await self._recipient_of(approver),
            employee,
            [_course_line(item)],
            facts=self._approval_facts(item),
        )
        return item

    async def _refresh_policy(self) -> None:
        """Take the policy the worker's settings give now (recorded in history as it was read).

        A changed setting (an approval threshold, the LMS moving to Moodle) reaches this
        employee at their next step; the change is noted on the timeline.
        """
        snapshot = await call_local(PolicyActivities.current, self._inp.employee_id)
        if snapshot.version == self._inp.policy_version:
            return
        inp = self._inp
        same = (inp.policy, inp.lms_task_queue, inp.lms_local) == (
            snapshot.policy,
            snapshot.lms_task_queue,
            snapshot.lms_local,
        )
        self._inp = inp.model_copy(
            update={
                "policy": snapshot.policy,
                "lms_task_queue": snapshot.lms_task_queue,
                "lms_local": snapshot.lms_local,
                "policy_version": snapshot.version,
            }
        )
        if not same:
            self._note("policy", f"the settings' policy {snapshot.version} applies from now on")

    async def _apply_overrides(self) -> None:
        """Re-plan after each of HR's gap overrides, in the order they came (audited)."""
        while self._overrides:
            change, cause = self._overrides[0]
            why = f": {change.reason}" if change.reason else ""
            self._note(
                "gap-override",
                f"{change.skill_id} {change.action} by {change.by}{why}",
                event_id=cause,
            )
            if workflow.patched(GAP_OVERRIDES):
                try:
                    employee = await self._employee()
                    planned = await self._plan(
                        PlanRequest(employee=employee, event_id=cause, on=workflow.now().date())
                    )
                    self._audit(
                        await self._apply_plan(employee, planned, cause, "talentloop.gap-override")
                    )
                except ActivityError as err:
                    reason = failure_text(err)
                    self._note("error", f"re-plan after {cause} failed: {reason}", event_id=cause)
                    self._audit(
                        ProcessedEvent(
                            event_id=cause,
                            type="talentloop.gap-override",
                            outcome="failed",
                            error=reason,
                        )
                    )
            self._overrides.pop(0)

    async def _apply_decisions(self) -> None:
        """Apply the queued decisions in the order they came."""
        while self._decisions:
            decision = self._decisions[0]
            try:
                await self._on_decision(decision)
            except ActivityError as err:
                if not workflow.patched(BOUNDED_RETRIES):
                    raise
                # The item stays awaiting approval: the approver can decide again later.
                reason = failure_text(err)
                self._note(
                    "decision-failed",
                    f"the decision by {decision.approver_id} could not be applied: {reason}",
                    course_id=decision.course_id,
                )
                self._refusals[decision.course_id] = (
                    f"the decision could not be applied now ({reason}); "
                    "the approval is still pending: try again later"
                )
            self._decisions.pop(0)

    async def _on_decision(self, decision: ApprovalDecision) -> None:
        item = self._item(decision.course_id)
        if item is None or item.status != "awaiting_approval":
            if workflow.patched(DECISION_REFUSALS):
                # E.g. the approval's default approved it while the decision waited.
                now = item.status if item is not None else "not in the plan"
                self._refusals[decision.course_id] = (
                    f"no approval is pending for course {decision.course_id} any more: it is {now}"
                )
            return
        comment = f": {decision.comment}" if decision.comment else ""
        if decision.approve:
            self._note(
                "approved",
                f"{item.title} approved by {decision.approver_id}{comment}",
                course_id=item.course_id,
            )
            await self._enroll_and_tell(item, f"approved by {decision.approver_id}")
        else:
            self._move(item.course_id, "rejected", f"rejected by {decision.approver_id}{comment}")

    async def _enroll_and_tell(self, item: PlanItemState, why: str) -> None:
        employee = await self._employee()
        if await self._enroll(employee, item.course_id, item.source_event, why=why):
            await self._notify(
                mail_keys.approved_enrollment(employee.id, item.course_id),
                "enrollment",
                _recipient(employee),
                employee,
                [_course_line(self._item_or_fail(item.course_id))],
            )

    # -- deadlines ----------------------------------------------------------------------------

    async def _on_deadline(self, due: Deadline) -> None:
        item = self._item(due.course_id)
        if item is None:
            return
        employee = await self._employee()
        policy = self._inp.policy
        if due.kind == "escalate":
            target = await self._skip_level(item.approver_id)
            if target is None:
                self._upsert(item.model_copy(update={"escalations": 1}))
                self._note(
                    "escalation",
                    f"no manager above {item.approver_id} to escalate to",
                    course_id=item.course_id,
                )
                return
            item = self._upsert(
                item.model_copy(update={"escalations": 1, "approver_id": target.id})
            )
            self._note(
                "escalation",
                f"approval escalated to {target.id} after "
                f"{policy.approval_sla_days} days without an answer",
                course_id=item.course_id,
            )
            await self._notify(
                mail_keys.approval_escalation(employee.id, item.course_id, 1),
                "approval_escalation",
                target,
                employee,
                [_course_line(item)],
                facts=self._approval_facts(item),
            )
        elif due.kind == "approval_default":
            why = f"no answer within the approval SLA: default {policy.approval_default}"
            if policy.approval_default == "approve":
                self._note("approved", why, course_id=item.course_id)
                await self._enroll_and_tell(item, why)
            else:
                self._move(item.course_id, "rejected", why)
        elif due.kind == "reminder":
            self._upsert(
                item.model_copy(update={"reminders_sent": [*item.reminders_sent, due.days_before]})
            )
            await self._notify(
                mail_keys.reminder(employee.id, item.course_id, due.days_before),
                "reminder",
                _recipient(employee),
                employee,
                [_course_line(item)],
                facts={"days_left": str(due.days_before)},
            )
        elif due.kind == "enroll_scheduled":
            await self._enroll_and_tell(item, "its month in the learning-hours budget has come")
        elif due.kind == "waitlist_check":
            await self._check_waitlist(employee, item)
        elif due.kind == "overdue":
            item = self._move(item.course_id, "overdue", f"not completed by {item.due}")
            await self._notify(
                mail_keys.overdue(employee.id, item.course_id),
                "overdue",
                _recipient(employee),
                employee,
                [_course_line(item)],
            )
            escalated_to = None
            if policy.escalate_overdue and employee.manager_id:
                escalated_to = employee.manager_id
                await self._notify(
                    mail_keys.overdue_escalation(employee.id, item.course_id),
                    "overdue_escalation",
                    await self._recipient_of(employee.manager_id),
                    employee,
                    [_course_line(item)],
                )
            assert item.due is not None
            overdue = self._outbound(
                ENROLLMENT_OVERDUE,
                EnrollmentOverdue(
                    enrollment_id=item.enrollment_id or item.course_id,
                    employee_id=employee.id,
                    course_id=item.course_id,
                    due=item.due,
                    days_overdue=max(0, (workflow.now().date() - item.due).days),
                    escalated_to=escalated_to,
                ),
                f"overdue:{item.enrollment_id or item.course_id}",
            )
            await self._publish_all([overdue])

    async def _check_waitlist(self, employee: Employee, item: PlanItemState) -> None:
        """Ask the LMS about a waitlisted item: a seat it gave is enrolled, with reminders."""
        held = await self._lms(
            LmsActivities.status,
            EnrollmentKey(employee_id=employee.id, course_id=item.course_id),
        )
        if held is not None and held.status == "enrolled":
            self._record_enrollment(item, held, "", "a seat came free: enrolled from the waitlist")
            await self._notify(
                mail_keys.promoted(employee.id, item.course_id),
                "enrollment",
                _recipient(employee),
                employee,
                [_course_line(self._item_or_fail(item.course_id))],
            )
        elif held is None or held.status == "withdrawn":
            self._move(item.course_id, "withdrawn", "the LMS no longer holds the waitlist place")
        else:
            self._upsert(item.model_copy(update={"lms_checked_at": workflow.now()}))

    # -- side effects (activities) ------------------------------------------------------------

    async def _employee(self) -> Employee:
        employee = await call_local(DirectoryActivities.get_employee, self._inp.employee_id)
        self._want_employee(employee)
        return employee

    def _want_employee(self, employee: Employee) -> None:
        self._want(DEPARTMENT.value_set(employee.department), ROLE.value_set(employee.role_id))

    async def _recipient_of(self, employee_id: str) -> Recipient:
        try:
            person = await call_local(DirectoryActivities.get_employee, employee_id)
        except ActivityError:
            return Recipient(id=employee_id, name=employee_id, email=None)
        return _recipient(person)

    async def _skip_level(self, manager_id: str | None) -> Recipient | None:
        """The manager of `manager_id`, if the directory knows one."""
        if manager_id is None:
            return None
        try:
            manager = await call_local(DirectoryActivities.get_employee, manager_id)
        except ActivityError:
            return None
        if manager.manager_id is None:
            return None
        return await self._recipient_of(manager.manager_id)

    async def _plan(self, req: PlanRequest) -> LearningPlan:
        return await call_local(PlanningActivities.plan_activity, req)

    def _enroll_request(self, employee: Employee, item: PlanItemState, cause: str) -> EnrollRequest:
        return EnrollRequest(
            employee_id=employee.id,
            course_id=item.course_id,
            due=item.due,
            reason=item.reason,
            source_event=cause,
        )

    def _record_enrollment(
        self, item: PlanItemState, enrollment: Enrollment | None, refusal: str, why: str
    ) -> bool:
        """Move the item as the LMS answered: failed, waitlisted or enrolled (True)."""
        if enrollment is None:
            self._move(item.course_id, "failed", f"the LMS refused the enrollment: {refusal}")
            return False
        if enrollment.status == "waitlisted":
            self._move(
                item.course_id,
                "waitlisted",
                f"the session is full: waitlist position {enrollment.waitlist_position}",
                enrollment_id=enrollment.enrollment_id,
            )
            return False
        due = enrollment.due or item.due
        self._move(
            item.course_id,
            "enrolled",
            why,
            enrollment_id=enrollment.enrollment_id,
            due=due,
            reminders_sent=reminders_already_past(due, self._inp.policy, workflow.now()),
        )
        return True

    async def _enroll(
        self, employee: Employee, course_id: str, cause: str, why: str | None = None
    ) -> bool:
        """Enroll in the LMS; a permanent refusal marks the item failed with the reason."""
        item = self._item_or_fail(course_id)
        try:
            enrollment: Enrollment | None = await self._lms(
                LmsActivities.enroll, self._enroll_request(employee, item, cause)
            )
            refusal = ""
        except ActivityError as err:
            enrollment, refusal = None, failure_text(err)
        if not self._record_enrollment(item, enrollment, refusal, why or item.reason):
            return False
        assert enrollment is not None
        if enrollment.source_event == cause:
            await self._publish_all([self._announcement(employee, enrollment, cause)])
        return True

    async def _enroll_many(
        self, employee: Employee, course_ids: list[str], cause: str
    ) -> tuple[list[str], list[CloudEvent[Any]]]:
        """Enroll in several courses with one LMS call.

        A permanent refusal marks that item failed with the reason; a full session puts it on
        the waitlist. Returns the courses now enrolled, and the `enrollment.created`
        announcements of the enrollments this cause made (for the caller to publish).
        """
        if not course_ids:
            return [], []
        items = [self._item_or_fail(c) for c in course_ids]
        result = await self._lms(
            LmsActivities.enroll_many,
            BulkEnrollRequest(requests=[self._enroll_request(employee, i, cause) for i in items]),
        )
        enrolled: list[str] = []
        announcements = []
        for item, outcome in zip(items, result.outcomes, strict=True):
            refusal = outcome.error.message if outcome.error else "no answer"
            enrollment = outcome.enrollment
            if self._record_enrollment(item, enrollment, refusal, item.reason):
                assert enrollment is not None
                enrolled.append(item.course_id)
                if enrollment.source_event == cause:
                    announcements.append(self._announcement(employee, enrollment, cause))
        return enrolled, announcements

    async def _lms(self, method: Callable[[Any, A], R], arg: A) -> R:
        """Call the LMS: a local activity, or an activity on the rate-limited LMS queue."""
        if self._inp.lms_local:
            return await call_local(method, arg)
        return await call_remote(method, arg, task_queue=self._inp.lms_task_queue)

    def _announcement(
        self, employee: Employee, enrollment: Enrollment, cause: str
    ) -> CloudEvent[Any]:
        return self._outbound(
            ENROLLMENT_CREATED,
            EnrollmentCreated(
                enrollment_id=enrollment.enrollment_id,
                employee_id=employee.id,
                course_id=enrollment.course_id,
                due=enrollment.due,
                reason=enrollment.reason,
                source_event_id=cause,
            ),
            cause,
        )

    def _outbound(self, event_type: str, data: Any, cause: str) -> CloudEvent[Any]:
        """An outbound event; its id derives from the cause, so a retry repeats it."""
        return outbound_event(event_type, data, cause_id=cause, time=workflow.now())

    async def _publish_all(self, events: list[CloudEvent[Any]]) -> None:
        """Publish outbound events with one local activity (nothing to do for none)."""
        if events:
            await call_local(OutboundActivities.publish_many, PublishBatch.of(events))

    async def _notify(
        self,
        key: str,
        template: str,
        to: Recipient,
        employee: Employee,
        courses: list[EnrolledCourse],
        *,
        uncoverable: list[str] | None = None,
        pending: list[EnrolledCourse] | None = None,
        facts: dict[str, str] | None = None,
    ) -> str | None:
        """Send one email; a failure is noted on the item and the plan carries on.

        Since `mail-as-activity`, the email is its own activity that nothing waits for: the
        returned Message-ID is the one it goes out with (derived from `key`), and the item's
        `notice` says whether it is pending, sent or failed.
        """
        req = NoticeRequest(
            dedupe_key=key,
            template=template,
            to=to,
            employee=employee,
            courses=courses,
            uncoverable=uncoverable or [],
            pending=pending or [],
            facts=facts or {},
        )
        if workflow.patched(MAIL_AS_ACTIVITY):
            message_id = message_id_for(key)
            course_ids = [c.course_id for c in courses]
            self._set_notice(course_ids, template, message_id, "pending")
            self._set(emails_in_flight=self._state.emails_in_flight + 1)
            sending = asyncio.ensure_future(self._send(req, message_id, course_ids))
            self._mail.add(sending)
            sending.add_done_callback(self._mail.discard)
            return message_id
        try:
            sent = await call_local(MailActivities.send_notice, req)
        except ActivityError as err:
            reason = f"{template} email to {to.id} failed: {failure_text(err)}"
            self._note("notification-failed", reason)
            for course in courses:
                item = self._item(course.course_id)
                if item is not None:
                    self._upsert(item.model_copy(update={"notification_error": reason}))
            return None
        return sent.message_id

    async def _send(self, req: NoticeRequest, message_id: str, course_ids: list[str]) -> None:
        """Send one email as an activity task and record how it went on its items."""
        try:
            await call_remote(MailActivities.send_notice, req, "mail")
        except ActivityError as err:
            reason = f"{req.template} email to {req.to.id} failed: {failure_text(err)}"
            self._note("notification-failed", reason)
            self._set_notice(course_ids, req.template, message_id, "failed", reason)
        else:
            self._set_notice(course_ids, req.template, message_id, "sent")
        finally:
            self._set(emails_in_flight=max(0, self._state.emails_in_flight - 1))

    def _set_notice(
        self,
        course_ids: list[str],
        template: str,
        message_id: str,
        status: NoticeStatus,
        error: str | None = None,
    ) -> None:
        """Record an email's state on its items (a later email about an item supersedes it)."""
        notice = NoticeState(
            template=template, status=status, at=workflow.now(), message_id=message_id, error=error
        )
        for course_id in course_ids:
            item = self._item(course_id)
            if item is None:
                continue
            if status != "pending" and item.notice and item.notice.message_id != message_id:
                continue
            changes: dict[str, Any] = {"notice": notice}
            if error is not None:
                changes["notification_error"] = error
            self._upsert(item.model_copy(update=changes))

    # -- state helpers ------------------------------------------------------------------------

    def _remember(self, event_id: str) -> None:
        self._seen.append(event_id)
        self._seen_set.add(event_id)
        if len(self._seen) > SEEN_IDS_KEPT:
            self._seen_set.discard(self._seen.pop(0))

    def _set(self, **changes: Any) -> None:
        self._state = self._state.model_copy(update=changes)

    def _item(self, course_id: str) -> PlanItemState | None:
        return next((i for i in self._state.items if i.course_id == course_id), None)

    def _item_or_fail(self, course_id: str) -> PlanItemState:
        item = self._item(course_id)
        assert item is not None, course_id
        return item

    def _upsert(self, item: PlanItemState) -> PlanItemState:
        items = [i for i in self._state.items if i.course_id != item.course_id]
        self._set(items=[*items, item])
        return item

    def _move(self, course_id: str, status: ItemStatus, why: str, **changes: Any) -> PlanItemState:
        """Move an item to `status`, dated and explained, and note it on the timeline."""
        item = self._item_or_fail(course_id)
        step = Transition(at=workflow.now(), status=status, why=why)
        item = item.model_copy(
            update={"status": status, "transitions": [*item.transitions, step], **changes}
        )
        self._note(status, f"{item.title}: {why}", course_id=course_id)
        return self._upsert(item)

    def _note(
        self, kind: str, text: str, *, course_id: str | None = None, event_id: str | None = None
    ) -> None:
        entry = TimelineEntry(
            at=workflow.now(), kind=kind, text=text, course_id=course_id, event_id=event_id
        )
        self._set(timeline=[*self._state.timeline, entry][-HISTORY_KEPT:])

    def _audit(self, line: ProcessedEvent) -> None:
        if self._inp.policy_version is not None:
            line = line.model_copy(update={"policy_version": self._inp.policy_version})
        self._set(history=[*self._state.history, line][-HISTORY_KEPT:])

    def _want(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Set search attributes at the end of this turn of the loop (`_publish_state`)."""
        for update in updates:
            self._attributes[update.key.name] = update

    def _publish_state(self) -> None:
        """Keep the search attributes current for HR ops' queries: one upsert, changes only."""
        state = plan_state(self._state.items, self._state.left)
        self._want(PLAN_STATE.value_set(state), OVERDUE_COUNT.value_set(self._state.overdue))
        current = workflow.info().typed_search_attributes
        changed = [u for u in self._attributes.values() if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)
