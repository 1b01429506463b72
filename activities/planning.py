"""Planning activity: a review's ratings become evidence, gaps against the role, and a plan."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.objectives import sets_in_force
from activities.skills.gaps import assess, compute_gaps, effective_requirements
from activities.skills.selection import choose_courses
from activities.store.tables import (
    CourseRow,
    EvidenceRow,
    LmsEnrollmentRow,
    RoleRequirementRow,
    RoleRow,
    SkillRow,
)
from schemas.learning import LearningPlan, PlanRequest
from schemas.skills import Course, CourseSkill, Evidence, Role, RoleRequirement, Skill

DEFAULT_POLICY = "manager_over_self"
MIN_GAP = 0.5
"""Gaps smaller than this (in scale levels) are within rating noise and enroll nobody."""


def review_evidence(req: PlanRequest) -> list[Evidence]:
    """The evidence a review provides: one dated rating per skill, on the review's scale."""
    review = req.review
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


class PlanningActivities:
    """Reads the role, evidence and catalog from the database and runs the skills engine."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: str = DEFAULT_POLICY,
        min_gap: float = MIN_GAP,
    ) -> None:
        """Build the activity over a database session factory and an assessment policy."""
        self._sessions = sessions
        self._policy = policy
        self._min_gap = min_gap

    def _store_evidence(self, s: Session, employee_id: str, evidence: list[Evidence]) -> None:
        for e in evidence:
            values = {
                "employee_id": employee_id,
                "skill_id": e.skill_id,
                "level": e.level,
                "scale_id": e.scale_id,
                "source": e.source,
                "observed_at": e.observed_at,
                "ref": e.ref,
                "rater_id": e.rater_id,
            }
            if s.bind is not None and s.bind.dialect.name == "sqlite":
                s.execute(sqlite_insert(EvidenceRow).values(**values).on_conflict_do_nothing())
            else:
                exists = s.scalars(
                    select(EvidenceRow.id).where(
                        EvidenceRow.employee_id == employee_id,
                        EvidenceRow.ref == e.ref,
                        EvidenceRow.skill_id == e.skill_id,
                    )
                ).first()
                if exists is None:
                    s.add(EvidenceRow(**values))

    @staticmethod
    def _evidence(s: Session, employee_id: str) -> list[Evidence]:
        rows = s.scalars(select(EvidenceRow).where(EvidenceRow.employee_id == employee_id))
        return [
            Evidence(
                skill_id=r.skill_id,
                level=r.level,
                scale_id=r.scale_id,
                source=r.source,
                observed_at=r.observed_at,
                ref=r.ref,
                rater_id=r.rater_id,
            )
            for r in rows
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

    @staticmethod
    def _catalog(s: Session) -> list[Course]:
        return [
            Course(
                id=c.id,
                title=c.title,
                hours=c.hours,
                cost=c.cost,
                modality=c.modality,
                teaches=tuple(CourseSkill.model_validate(t) for t in c.teaches),
                prerequisites=tuple(c.prerequisites),
            )
            for c in s.scalars(select(CourseRow))
        ]

    def plan(self, req: PlanRequest) -> LearningPlan:
        """Store the review's evidence, then compute gaps and choose courses."""
        employee = req.employee
        with self._sessions.begin() as s:
            self._store_evidence(s, employee.id, review_evidence(req))
        with self._sessions() as s:
            role = self._role(s, employee.role_id)
            evidence = self._evidence(s, employee.id)
            skills = {r.id: Skill(id=r.id, name=r.name) for r in s.scalars(select(SkillRow))}
            catalog = self._catalog(s)
            objective_sets = sets_in_force(s, req.review.completed_at.date())
            taken = s.execute(
                select(LmsEnrollmentRow.course_id, LmsEnrollmentRow.status).where(
                    LmsEnrollmentRow.employee_id == employee.id
                )
            ).all()
        on = req.review.completed_at.date()
        assessed = assess(evidence, policy=self._policy, on=on)
        # A role skill nobody has rated yet is unknown, not a gap; a skill a strategic
        # objective asks for is a gap until there is evidence of it.
        requirements = [
            r
            for r in effective_requirements(role, objective_sets, employee.department, on)
            if r.skill_id in assessed or r.objective_id is not None
        ]
        gaps = [g for g in compute_gaps(requirements, assessed, skills) if g.size >= self._min_gap]
        plan = choose_courses(
            gaps,
            catalog,
            assessed={k: a.level for k, a in assessed.items()},
            completed={c for c, st in taken if st == "completed"},
            enrolled={c for c, st in taken if st != "completed"},
        )
        return LearningPlan(
            employee_id=employee.id,
            event_id=req.event_id,
            policy=self._policy,
            gaps=list(gaps),
            plan=plan,
        )

    @activity.defn(name="skills.plan_after_review")
    def plan_after_review(self, req: PlanRequest) -> LearningPlan:
        """Compute the employee's gaps and plan after a review (idempotent: evidence upserts)."""
        return self.plan(req)
