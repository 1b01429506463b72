"""Planning activity: a review's ratings become evidence, gaps against the role, and a plan.

References to things that do not exist are decided here (see ``docs/contract.md``): a rating
of a skill the framework does not hold is ignored (no evidence row) and flagged in the plan
(one ``uncoverable`` line, which the workflow puts on the timeline and in the event's audit);
a completion of a course the catalog does not hold records no evidence and fails for good, so
that the workflow records it with the reason and sends no congratulation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.directory import DirectoryActivities
from activities.errors import FailureType, LmsCode, permanent
from activities.goals import goal_objectives, stored_goals
from activities.objectives import sets_in_force
from activities.rollout.applied import record_applied
from activities.skills.gaps import DEFAULT_MIN_GAP, assess, decide_gaps, effective_requirements
from activities.skills.reasons import worded_items
from activities.skills.selection import CatalogIndex, choose_courses
from activities.store.engine import writer_lock
from activities.store.tables import (
    CourseRow,
    EvidenceRow,
    LmsEnrollmentRow,
    RoleRequirementRow,
    RoleRow,
    SkillRow,
)
from activities.store.waivers import active_waivers
from schemas.learning import (
    CompletionOutcome,
    CompletionRequest,
    Employee,
    LearningPlan,
    PlanRequest,
    ReviewPlan,
    ReviewPlanRequest,
)
from schemas.skills import (
    AssessmentPolicy,
    Evidence,
    Gap,
    Objective,
    ObjectiveSet,
    Plan,
    Role,
    RoleRequirement,
    Skill,
    UncoverableGap,
)

DEFAULT_POLICY = "manager_over_self"
MIN_GAP = DEFAULT_MIN_GAP
"""Gaps smaller than this (in scale levels) are within rating noise and enroll nobody."""
UNKNOWN_SHOWN = 5
"""Unknown skill ids a flag names; the rest are counted."""


# Statements built once: building one costs more than running it on SQLite.
_TAKEN = select(
    LmsEnrollmentRow.course_id, LmsEnrollmentRow.status, LmsEnrollmentRow.source_event
).where(LmsEnrollmentRow.employee_id == bindparam("employee_id"))
_EVIDENCE = select(
    EvidenceRow.skill_id,
    EvidenceRow.level,
    EvidenceRow.scale_id,
    EvidenceRow.source,
    EvidenceRow.observed_at,
    EvidenceRow.ref,
    EvidenceRow.rater_id,
).where(EvidenceRow.employee_id == bindparam("employee_id"))
_RECORDED = select(EvidenceRow.source_event, EvidenceRow.event_time).where(
    EvidenceRow.employee_id == bindparam("employee_id"), EvidenceRow.ref == bindparam("ref")
)
_INSERT_EVIDENCE_SQLITE = sqlite_insert(EvidenceRow).on_conflict_do_nothing()
_INSERT_EVIDENCE_PG = postgresql_insert(EvidenceRow).on_conflict_do_nothing()


@dataclass(frozen=True)
class _Reference:
    catalog: CatalogIndex
    skills: dict[str, Skill]
    roles: dict[str, Role] = field(default_factory=dict)
    """Roles read so far (filled on first use, dropped with the rest of the reference)."""


@dataclass
class _Context:
    role: Role
    evidence: list[Evidence]
    skills: dict[str, Skill]
    catalog: CatalogIndex
    objective_sets: list[ObjectiveSet]
    completed: set[str]
    enrolled: set[str]
    waived: dict[str, str] = field(default_factory=dict)
    goals: list[Objective] = field(default_factory=list)
    """The employee's active goals, each as an objective ("goal:<id>"; activities/goals.py)."""


def review_evidence(req: PlanRequest) -> list[Evidence]:
    """The evidence a review provides: one dated rating per skill, on the review's scale."""
    review = req.review
    if review is None:
        return []
    return [
        Evidence(
            skill_id=r.skill_id,
            level=r.rating,
            scale_id=review.scale,
            source=f"review_{review.reviewer_kind}",
            observed_at=review.completed_at.date(),
            ref=review.review_id,
            rater_id=review.reviewer_id,
        )
        for r in review.ratings
    ]


def is_correction(
    recorded: list[tuple[str | None, datetime | None]],
    event_id: str,
    event_time: datetime | None,
) -> bool | None:
    """Whether an event's ratings of a review replace the review's recorded ones.

    The rule "corrected review" (docs/decisions.md): an event for a review already recorded
    by another event is a correction when its CloudEvents ``time`` is later; on equal times,
    or when either has none, the later arrival wins (this one: events reach the planner in
    the order the employee's workflow handles them).

    Args:
        recorded: (source event, event time) of the review's recorded rows.
        event_id: The event now planning.
        event_time: Its CloudEvents ``time``.

    Returns:
        None when nothing is recorded for the review or the same event recorded it (insert
        what is missing: a retry); True to replace; False to keep the recorded ratings.

    """
    others = [(e, t) for e, t in recorded if e != event_id]
    if not others:
        return None
    times = [_aware(t) for _, t in others if t is not None]
    if event_time is None or len(times) < len(others):
        return True
    return _aware(event_time) >= max(times)


def _aware(t: datetime) -> datetime:
    """``t`` with a time zone: SQLite returns stored times without one (they are UTC)."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def unknown_skills_flag(skill_ids: list[str]) -> UncoverableGap:
    """The plan's flag for ratings of skills the framework does not hold (they were ignored).

    One line for all of them, so that a review rating 200 unknown skills adds one line to the
    timeline, not 200.
    """
    shown = ", ".join(skill_ids[:UNKNOWN_SHOWN])
    more = len(skill_ids) - UNKNOWN_SHOWN
    listed = f"{shown} and {more} more" if more > 0 else shown
    count = len(skill_ids)
    return UncoverableGap(
        gap=Gap(
            skill_id=skill_ids[0],
            skill_name=f"{count} rated skill{'s' if count > 1 else ''} not in the skills framework",
            target=0.0,
            current=0.0,
            size=0.0,
            weight=0.0,
            source="review",
        ),
        reason=f"ratings ignored ({listed})",
        reachable=0.0,
    )


class PlanningActivities:
    """Reads the role, evidence and catalog from the database and runs the skills engine."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        directory: DirectoryActivities | None = None,
        policy: str | AssessmentPolicy = DEFAULT_POLICY,
        min_gap: float = MIN_GAP,
        catalog_ttl: float = 30.0,
        today: Callable[[], date] = date.today,
    ) -> None:
        """Build the activity over a database session factory and an assessment policy.

        `directory` looks employees up for `plan_review` (default: the same database);
        `policy` and `min_gap` are the evidence aggregation policy and the noise threshold
        (settings ``TALENTLOOP_ASSESSMENT_POLICY`` / ``TALENTLOOP_MIN_GAP``), recorded with
        each plan; `today` is the clock plans are assessed by.
        """
        self._sessions = sessions
        self._directory = directory or DirectoryActivities(sessions)
        self._policy = policy
        self._policy_name = policy if isinstance(policy, str) else policy.name
        self._min_gap = min_gap
        self._today = today
        self._catalog_ttl = catalog_ttl
        self._catalog_lock = threading.Lock()
        self._cached: tuple[float, _Reference] | None = None
        self._objective_sets: dict[tuple[str, int], ObjectiveSet] = {}

    def _store_evidence(
        self,
        s: Session,
        employee_id: str,
        evidence: list[Evidence],
        event_id: str | None = None,
        event_time: datetime | None = None,
    ) -> None:
        """Insert the evidence in one statement; rows already there (a retry) are kept.

        A review's evidence recorded by another event is replaced when this event is its
        correction (:func:`is_correction`), and left as it is when this event is older.
        """
        if not evidence:
            return
        if event_time is not None:
            event_time = _aware(event_time).astimezone(UTC)  # SQLite keeps no offset
        if event_id is not None:
            ref = evidence[0].ref
            recorded = [
                (e, t) for e, t in s.execute(_RECORDED, {"employee_id": employee_id, "ref": ref})
            ]
            correction = is_correction(recorded, event_id, event_time)
            if correction is False:
                return
            if correction:
                s.execute(
                    delete(EvidenceRow).where(
                        EvidenceRow.employee_id == employee_id, EvidenceRow.ref == ref
                    )
                )
        rows = [
            {
                "employee_id": employee_id,
                "skill_id": e.skill_id,
                "level": e.level,
                "scale_id": e.scale_id,
                "source": e.source,
                "observed_at": e.observed_at,
                "ref": e.ref,
                "rater_id": e.rater_id,
                "source_event": event_id,
                "event_time": event_time,
            }
            for e in evidence
        ]
        postgres = s.get_bind().dialect.name == "postgresql"
        s.execute(_INSERT_EVIDENCE_PG if postgres else _INSERT_EVIDENCE_SQLITE, rows)

    @staticmethod
    def _evidence(s: Session, employee_id: str) -> list[Evidence]:
        return [
            Evidence(
                skill_id=skill_id,
                level=level,
                scale_id=scale_id,
                source=source,
                observed_at=observed_at,
                ref=ref,
                rater_id=rater_id,
            )
            for skill_id, level, scale_id, source, observed_at, ref, rater_id in s.execute(
                _EVIDENCE, {"employee_id": employee_id}
            )
        ]

    @staticmethod
    def _role(s: Session, role_id: str) -> Role:
        row = s.get(RoleRow, role_id)
        reqs = s.scalars(select(RoleRequirementRow).where(RoleRequirementRow.role_id == role_id))
        return Role(
            id=role_id,
            title=row.title if row else role_id,
            requirements=tuple(
                RoleRequirement(
                    skill_id=r.skill_id,
                    level=r.level,
                    importance=r.importance,
                    suppressed=r.suppressed,
                )
                for r in reqs
            ),
        )

    def _reference(self, s: Session) -> _Reference:
        """Catalog (indexed), skill names and roles; re-read at most every `catalog_ttl` s."""
        now = time.monotonic()
        with self._catalog_lock:
            if self._cached is not None and now - self._cached[0] < self._catalog_ttl:
                return self._cached[1]
        reference = _Reference(
            catalog=CatalogIndex(
                c.to_course() for c in s.scalars(select(CourseRow).where(CourseRow.offered))
            ),
            skills={
                r.id: Skill(
                    id=r.id,
                    name=r.name,
                    anchors={int(k): v for k, v in (r.anchors or {}).items()},
                )
                for r in s.scalars(select(SkillRow))
            },
        )
        with self._catalog_lock:
            self._cached = (now, reference)
        return reference

    def _load(self, s: Session, employee: Employee, on: date, event_id: str) -> _Context:
        """What planning for `event_id` reads, as it was before that event had any effect.

        Enrollments made for `event_id` itself do not count as taken: a retried plan (say, of
        a workflow task that timed out after its enrollments were made) chooses the same
        courses again, and enrolling in them again returns the enrollments already made.
        """
        taken = s.execute(_TAKEN, {"employee_id": employee.id}).all()
        objective_sets = sets_in_force(s, on, self._objective_sets)
        reference = self._reference(s)
        role = reference.roles.get(employee.role_id)
        if role is None:
            role = reference.roles[employee.role_id] = self._role(s, employee.role_id)
        return _Context(
            role=role,
            evidence=self._evidence(s, employee.id),
            skills=reference.skills,
            catalog=reference.catalog,
            objective_sets=objective_sets,
            completed={c for c, st, _ in taken if st == "completed"},
            enrolled={
                c
                for c, st, source in taken
                if st not in ("completed", "withdrawn") and source != event_id
            },
            waived=active_waivers(s, employee.id),
            goals=goal_objectives(
                stored_goals(s, employee.id),
                objective_sets,
                employee.role_id,
                employee.department,
                on,
            ),
        )

    def _gaps(
        self, ctx: _Context, employee: Employee, on: date, evidence: list[Evidence]
    ) -> tuple[list[Gap], dict[str, float]]:
        """The gaps by the rules of docs/decisions.md, and the assessed levels."""
        assessed = assess(evidence, policy=self._policy, on=on)
        requirements = effective_requirements(
            ctx.role, [*ctx.objective_sets, *ctx.goals], employee.department, on
        )
        gaps = decide_gaps(
            requirements, assessed, ctx.skills, min_gap=self._min_gap, waived=ctx.waived
        )
        levels = {k: a.level for k, a in assessed.items()}
        return gaps, levels

    def _as_of(self, now: date, evidence: list[Evidence]) -> date:
        """The day to assess as of: now, or the newest evidence's day if that is later.

        Whatever order events arrive in, no evidence is left out (the rule "assess as of
        now", docs/decisions.md).
        """
        return max([now, *(e.observed_at for e in evidence)])

    def _unknown_skills(self, skill_ids: list[str]) -> list[str]:
        """Those of `skill_ids` the framework does not hold, in their order.

        The cached reference answers first; ids it lacks are asked of the database, so that
        skills imported since the cache was filled count as known.
        """
        with self._sessions() as s:
            known = self._reference(s).skills
            missing = [k for k in skill_ids if k not in known]
            if missing:
                found = set(s.scalars(select(SkillRow.id).where(SkillRow.id.in_(missing))))
                missing = [k for k in missing if k not in found]
        return missing

    def plan(self, req: PlanRequest) -> LearningPlan:
        """Store a review's evidence (if any), then compute gaps and choose courses.

        Ratings of skills the framework does not hold are not stored; the plan flags them in
        ``uncoverable`` (`unknown_skills_flag`).
        """
        employee = req.employee
        now = req.on or self._today()
        flags: list[UncoverableGap] = []
        if req.review is not None:
            evidence = review_evidence(req)
            unknown = self._unknown_skills([e.skill_id for e in evidence])
            if unknown:
                ignored = set(unknown)
                evidence = [e for e in evidence if e.skill_id not in ignored]
                flags.append(unknown_skills_flag(unknown))
            with writer_lock(self._sessions), self._sessions.begin() as s:
                self._store_evidence(s, employee.id, evidence, req.event_id, req.event_time)
        with self._sessions() as s:
            on = self._as_of(now, self._evidence(s, employee.id))
            ctx = self._load(s, employee, on, req.event_id)
        gaps, levels = self._gaps(ctx, employee, on, ctx.evidence)
        plan: Plan = choose_courses(
            gaps, ctx.catalog, assessed=levels, completed=ctx.completed, enrolled=ctx.enrolled
        )
        items = worded_items(plan.items, gaps, ctx.skills, employee.locale)
        plan = plan.model_copy(update={"items": tuple(items)})
        if flags:
            plan = plan.model_copy(update={"uncoverable": (*plan.uncoverable, *flags)})
        return LearningPlan(
            employee_id=employee.id,
            event_id=req.event_id,
            policy=self._policy_name,
            gaps=gaps,
            plan=plan,
            objective_sets=[f"{o.id}@v{o.version}" for o in ctx.objective_sets],
            min_gap=self._min_gap,
            assessed_on=on,
            waived=dict(ctx.waived),
        )

    @activity.defn(name="skills.plan")
    def plan_activity(self, req: PlanRequest) -> LearningPlan:
        """Compute the employee's gaps and plan (idempotent: review evidence upserts).

        A re-plan a rollout asked for (``req.applies``) records the objective-set version as
        the one the employee last applied (``activities.rollout.applied``).
        """
        planned = self.plan(req)
        if req.applies is not None:
            record_applied(self._sessions, req.applies, req.event_id, datetime.now(UTC))
        return planned

    @activity.defn(name="skills.plan_review")
    def plan_review(self, req: ReviewPlanRequest) -> ReviewPlan:
        """Look the employee up and plan after their review, in one activity (idempotent).

        Raises:
            ApplicationError: Non-retryable ``UnknownEmployee`` when the directory does not
                hold the employee (or they left).
        """
        employee = self._directory.get_employee(req.employee_id)
        planned = self.plan(
            PlanRequest(
                employee=employee,
                event_id=req.event_id,
                review=req.review,
                event_time=req.event_time,
            )
        )
        return ReviewPlan(employee=employee, planned=planned)

    @activity.defn(name="skills.record_completion")
    def record_completion(self, req: CompletionRequest) -> CompletionOutcome:
        """Record a completed course as evidence (the levels it teaches) and re-assess.

        Returns the gaps the completion closed and those that remain on the course's skills.
        Idempotent: the evidence is keyed by the course, so a retry changes nothing.

        Raises:
            ApplicationError: Non-retryable ``LmsError`` (``unknown_course``) when the catalog
                does not hold the course: no evidence is recorded, and the workflow records the
                completion as failed with the reason instead of congratulating.
        """
        employee = req.employee
        with self._sessions() as s:
            course = s.get(CourseRow, req.course_id)
        if course is None:
            raise permanent(
                f"course {req.course_id} is not in the catalog: completion noted without "
                "evidence or congratulation",
                FailureType.LMS,
                LmsCode.UNKNOWN_COURSE,
            )
        teaches = list(course.to_course().teaches)
        evidence = [
            Evidence(
                skill_id=t.skill_id,
                level=t.to_level,
                source="course",
                observed_at=req.completed_at.date(),
                ref=f"course:{req.course_id}",
            )
            for t in teaches
        ]
        with writer_lock(self._sessions), self._sessions.begin() as s:
            self._store_evidence(s, employee.id, evidence)
        with self._sessions() as s:
            on = self._as_of(self._today(), self._evidence(s, employee.id))
            ctx = self._load(s, employee, on, req.event_id)
        before_evidence = [e for e in ctx.evidence if e.ref != f"course:{req.course_id}"]
        before, _ = self._gaps(ctx, employee, on, before_evidence)
        after, levels = self._gaps(ctx, employee, on, ctx.evidence)
        still = {g.skill_id for g in after}
        taught = {t.skill_id for t in teaches}
        return CompletionOutcome(
            closed=[g for g in before if g.skill_id not in still and g.skill_id in taught],
            remaining=[g for g in after if g.skill_id in taught],
            levels={k: v for k, v in levels.items() if k in taught},
        )
