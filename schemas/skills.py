"""Skills engine types: skills, scales, roles, objectives, evidence, gaps, courses, plans.

Levels are floats on the framework's proficiency scale (O*NET's LV 0-7 by default). Skills,
roles and level anchors come from O*NET; employees, reviews and courses are not in O*NET and
are generated or supplied by the company's systems.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EvidenceSource = Literal["review_self", "review_manager", "review_peer", "course", "import"]
"""Where a piece of proficiency evidence came from."""

Modality = Literal["online", "classroom", "virtual", "blended", "self_paced"]
"""How a course is delivered."""

ONET_LV_ID = "onet-lv"
"""The id of O*NET's level scale (0-7), the default framework scale."""


def format_level(level: float) -> str:
    """Format a level compactly for messages: 4.0 -> "4", 4.625 -> "4.62"."""
    return f"{round(level, 2):g}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProficiencyScale(_Frozen):
    """A proficiency scale, with a piecewise-linear calibration onto O*NET's LV 0-7.

    Attributes:
        id: Stable id, e.g. "onet-lv" or "1-5".
        name: Human-readable name.
        minimum: Lowest level.
        maximum: Highest level.
        labels: Plain-language names of whole levels, e.g. {1: "novice", 5: "expert"}.
        calibration: Increasing (scale value, O*NET LV) points used to convert between scales;
            empty means linear between the end points (minimum -> 0, maximum -> 7).

    """

    id: str
    name: str
    minimum: float
    maximum: float
    labels: dict[int, str] = Field(default_factory=dict)
    calibration: tuple[tuple[float, float], ...] = ()

    @model_validator(mode="after")
    def _check(self) -> ProficiencyScale:
        if self.maximum <= self.minimum:
            raise ValueError("maximum must be above minimum")
        xs = [p[0] for p in self.calibration]
        ys = [p[1] for p in self.calibration]
        if self.calibration and (
            len(self.calibration) < 2
            or any(b <= a for a, b in itertools.pairwise(xs))
            or any(b <= a for a, b in itertools.pairwise(ys))
        ):
            raise ValueError("calibration needs >= 2 strictly increasing points")
        return self

    def clamp(self, level: float) -> float:
        """Return ``level`` limited to the scale's range."""
        return min(self.maximum, max(self.minimum, level))


class Skill(_Frozen):
    """A skill in the framework.

    Attributes:
        id: Stable id, e.g. "onet:2.B.3.e" for O*NET skills.
        name: Display name, e.g. "Programming".
        description: What the skill is.
        onet_element_id: O*NET content-model element id, when mapped.
        esco_uri: ESCO skill URI, when mapped.
        scale_id: The proficiency scale levels of this skill are on.
        anchors: Plain-language meaning of levels, e.g. {2: "Write a program to sort ..."}.

    """

    id: str
    name: str
    description: str = ""
    onet_element_id: str | None = None
    esco_uri: str | None = None
    scale_id: str = ONET_LV_ID
    anchors: dict[int, str] = Field(default_factory=dict)

    def anchor_for(self, level: float) -> str | None:
        """Return the anchor of the highest anchored level not above ``level``, if any."""
        below = [k for k in self.anchors if k <= level + 1e-9]
        return self.anchors[max(below)] if below else None


class RoleRequirement(_Frozen):
    """A role's baseline requirement for one skill.

    Attributes:
        skill_id: The skill.
        level: Required level (O*NET LV).
        importance: Importance (O*NET IM, 1-5); the requirement's weight.
        suppressed: O*NET flags the estimate as low precision ("Recommend Suppress").

    """

    skill_id: str
    level: float
    importance: float = 3.0
    suppressed: bool = False

    @property
    def weight(self) -> float:
        """Weight of the requirement (its importance)."""
        return self.importance


class Role(_Frozen):
    """A job role and its baseline skill requirements.

    Attributes:
        id: Stable id, e.g. "onet:15-1252.00".
        title: Role title.
        description: What the role does.
        requirements: One requirement per skill.

    """

    id: str
    title: str
    description: str = ""
    requirements: tuple[RoleRequirement, ...] = ()


class ObjectiveRequirement(_Frozen):
    """A skill an objective raises or adds.

    Attributes:
        skill_id: The skill.
        target: Level required once the objective applies.
        importance: 1-5; when None, the role's importance for the skill (else 3) is used.

    """

    skill_id: str
    target: float
    importance: float | None = None


class Objective(_Frozen):
    """A strategic objective: raises or adds required skills for roles and/or departments.

    An objective with neither roles nor departments applies to everyone; otherwise it applies
    to an employee whose role or whose department is listed.

    Attributes:
        id: Stable id, e.g. "Q3-cloud".
        title: What the objective is.
        priority: 1 (low) .. 5 (high); multiplies importance into the weight.
        due: When the skills must be there.
        roles: Role ids it applies to.
        departments: Departments it applies to.
        active_from: First day it applies (None: from the set's effective date).
        active_until: Last day it applies (None: open-ended).
        requirements: Skills it raises or adds.

    """

    id: str
    title: str = ""
    priority: float = 1.0
    due: date | None = None
    roles: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    active_from: date | None = None
    active_until: date | None = None
    requirements: tuple[ObjectiveRequirement, ...] = ()

    def applies_to(self, role_id: str, department: str | None) -> bool:
        """Whether the objective targets an employee in ``role_id`` and ``department``."""
        if not self.roles and not self.departments:
            return True
        return role_id in self.roles or (department is not None and department in self.departments)

    def is_active(self, on: date) -> bool:
        """Whether the objective applies on day ``on``."""
        if self.active_from is not None and on < self.active_from:
            return False
        return self.active_until is None or on <= self.active_until


class ObjectiveSet(_Frozen):
    """A versioned set of objectives; a later version of the same id replaces earlier ones.

    Attributes:
        id: Stable id of the set, e.g. "strategy-2027".
        version: Increasing version number.
        effective_from: First day this version is in force.
        objectives: The objectives.

    """

    id: str
    version: int = 1
    effective_from: date
    objectives: tuple[Objective, ...] = ()


class Evidence(_Frozen):
    """One dated observation of an employee's level in a skill.

    Attributes:
        skill_id: The skill.
        level: Observed level, on scale ``scale_id``.
        scale_id: Scale the level is on, e.g. "1-5" for a review rating.
        source: Kind of evidence.
        observed_at: Day of the observation.
        ref: Id of what produced it (review id, course id, import batch id).
        rater_id: Who rated, for reviews.

    """

    skill_id: str
    level: float
    scale_id: str = ONET_LV_ID
    source: EvidenceSource
    observed_at: date
    ref: str
    rater_id: str | None = None

    def describe(self) -> str:
        """Describe briefly, e.g. "review_manager r-17 on 2026-05-02: 3 (1-5)"."""
        level = format_level(self.level)
        return f"{self.source} {self.ref} on {self.observed_at}: {level} ({self.scale_id})"


def _default_weights() -> dict[EvidenceSource, float]:
    return {
        "review_manager": 1.0,
        "course": 1.0,
        "import": 0.8,
        "review_peer": 0.6,
        "review_self": 0.4,
    }


PolicyName = Literal["manager_over_self", "latest", "highest", "recency_weighted_mean"]
"""The built-in ways to aggregate evidence into an assessed level."""


class AssessmentPolicy(_Frozen):
    """How evidence is aggregated into an assessed level.

    Attributes:
        name: "manager_over_self": the latest rating from the most authoritative source present
            (manager > import > peer > self; same-day ratings averaged), raised by courses
            completed since; "latest": the most recent rating (same-day ratings: the most
            authoritative source, averaged), raised by courses completed since (a course never
            lowers it); "highest": the highest level;
            "recency_weighted_mean": mean weighted by source weight x half-life decay.
        half_life_days: Age at which evidence counts half, for "recency_weighted_mean".
        source_weights: Weight of each source, for "recency_weighted_mean".
        courses_raise: Whether completed courses newer than the chosen rating raise the level
            (for "manager_over_self" and "latest").

    """

    name: PolicyName = "manager_over_self"
    half_life_days: float = Field(365.0, gt=0)
    source_weights: dict[EvidenceSource, float] = Field(default_factory=_default_weights)
    courses_raise: bool = True


class EffectiveRequirement(_Frozen):
    """An employee's requirement for one skill after combining role and objectives.

    Attributes:
        skill_id: The skill.
        target: Required level.
        weight: Role importance, or objective priority x importance.
        source: Role id or objective id that set the target.
        source_title: Title of that role or objective, for messages ("" when unknown).
        objective_id: The objective that set it, None when the role baseline did.
        objective_set: "<set id>@v<version>" of that objective.
        due: The objective's due date.
        baseline: The role's own level for the skill (0 when the role does not require it).
        claimed_by: The objective that asks for the skill, whichever requirement won the
            target (the winner when an objective won); None when no objective asks for it.
            An objective's claim makes an unrated skill a gap (docs/decisions.md).

    """

    skill_id: str
    target: float
    weight: float
    source: str
    source_title: str = ""
    objective_id: str | None = None
    objective_set: str | None = None
    due: date | None = None
    baseline: float = 0.0
    claimed_by: str | None = Field(default=None, exclude_if=lambda v: v is None)


class AssessedLevel(_Frozen):
    """An employee's assessed level in one skill, with every piece of evidence behind it.

    Attributes:
        skill_id: The skill.
        level: Assessed level on the framework scale.
        policy: Aggregation policy that produced it.
        evidence: All evidence considered for the skill.
        basis: The evidence that determined the level.

    """

    skill_id: str
    level: float
    policy: str
    evidence: tuple[Evidence, ...] = ()
    basis: tuple[Evidence, ...] = ()


class Gap(_Frozen):
    """A positive difference between an effective requirement and the assessed level.

    Attributes:
        skill_id: The skill.
        skill_name: Its display name.
        target: Required level.
        current: Assessed level.
        size: target - current (> 0).
        weight: Weight of the requirement.
        source: Role id or objective id that set the target.
        source_title: Title of that role or objective, for messages ("" when unknown).
        objective_id: Objective that set the target, if any.
        due: Due date of that objective.
        evidence: Evidence that determined the current level.
        policy: Assessment policy used.
        claimed_by: The objective asking for the skill (also when the role set the target).

    """

    skill_id: str
    skill_name: str
    target: float
    current: float
    size: float
    weight: float
    source: str = ""
    source_title: str = ""
    objective_id: str | None = None
    due: date | None = None
    evidence: tuple[Evidence, ...] = ()
    policy: str = ""
    claimed_by: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @property
    def weighted_size(self) -> float:
        """Size x weight: how much closing the gap is worth."""
        return self.size * self.weight

    def purpose(self) -> str:
        """Why the target exists, e.g. "for objective Q3-cloud, due 2027-03-31".

        A role baseline is named by the role's title when known ("for role Computer User
        Support Specialists"), else by its id.
        """
        if self.objective_id is not None:
            due = f", due {self.due}" if self.due is not None else ""
            return f"for objective {self.objective_id}{due}"
        name = self.source_title or self.source
        return f"for role {name}" if name else "for the role baseline"

    def explain(self) -> str:
        """Plain-language explanation: target and why, current level and its evidence, policy."""
        if self.evidence:
            ev = "; ".join(e.describe() for e in self.evidence)
        else:
            ev = "no evidence, assumed the scale minimum"
        return (
            f"{self.skill_name}: needs {format_level(self.target)} {self.purpose()} "
            f"(weight {format_level(self.weight)}); assessed {format_level(self.current)} "
            f"by policy {self.policy or 'n/a'} from {ev}; gap {format_level(self.size)}."
        )


class CourseSkill(_Frozen):
    """What a course teaches in one skill.

    Attributes:
        skill_id: The skill.
        from_level: Minimum level needed to start the course (0: none).
        to_level: Level the course brings a learner to.

    """

    skill_id: str
    from_level: float = 0.0
    to_level: float

    @model_validator(mode="after")
    def _check(self) -> CourseSkill:
        if self.to_level <= self.from_level:
            raise ValueError("to_level must be above from_level")
        return self


class CourseSession(_Frozen):
    """A scheduled run of a course.

    Attributes:
        id: Session id.
        starts: First day.
        ends: Last day.
        capacity: Seats.

    """

    id: str
    starts: date
    ends: date
    capacity: int = Field(ge=0)


class Course(_Frozen):
    """A course in the catalog.

    Attributes:
        id: Course id.
        title: Title.
        hours: Learning hours.
        cost: Cost per learner.
        modality: Delivery.
        teaches: Skills taught, each with starting and resulting level.
        prerequisites: Course ids to complete first.
        sessions: Scheduled sessions (empty: self-paced, unlimited seats).

    """

    id: str
    title: str
    hours: float = Field(ge=0)
    cost: float = Field(0.0, ge=0)
    modality: Modality = "online"
    teaches: tuple[CourseSkill, ...] = ()
    prerequisites: tuple[str, ...] = ()
    sessions: tuple[CourseSession, ...] = ()


class PlanItem(_Frozen):
    """A chosen course, with why it was chosen.

    Attributes:
        course_id: The course.
        title: Its title.
        hours: Its hours.
        cost: Its cost.
        closes: Skill ids whose gap this course closes or narrows.
        reason: E.g. "Programming 2→4 for objective Q3-cloud, due 2027-03-31".
        value: Weighted gap closure it brings (weight x levels), 0 for a supporting course.
        depends_on: Earlier plan courses it needs (prerequisites, providers of starting levels).
        session_id: Assigned session, when seats are allocated.
        detail: The reason with the numbers (levels on the 0-7 scale), for the detail view,
            when ``reason`` is in words (empty: ``reason`` has the numbers).

    """

    course_id: str
    title: str
    hours: float
    cost: float = 0.0
    closes: tuple[str, ...] = ()
    reason: str
    value: float = 0.0
    depends_on: tuple[str, ...] = ()
    session_id: str | None = None
    detail: str = Field(default="", exclude_if=lambda v: not v)


class UncoverableGap(_Frozen):
    """A gap a plan leaves open, and why.

    Attributes:
        gap: The gap.
        reason: Why it stays open.
        reachable: Highest level the plan (or the catalog) reaches for the skill.

    """

    gap: Gap
    reason: str
    reachable: float


class Plan(_Frozen):
    """The courses chosen for one employee.

    Attributes:
        items: Chosen courses in an order that respects prerequisites and starting levels.
        uncoverable: Gaps the catalog cannot close, with the reason.
        deferred: Coverable gaps left (partly) open because the hours budget binds.
        covered_by_enrolled: Skill ids whose gap courses already enrolled in will close.
        total_hours: Sum of chosen hours.
        total_cost: Sum of chosen costs.
        minimise: "hours" or "cost".
        hours_budget: The budget, if any.
        budget_binding: True when the budget prevented closing every coverable gap.
        optimal: True when the search proved the plan optimal.

    """

    items: tuple[PlanItem, ...] = ()
    uncoverable: tuple[UncoverableGap, ...] = ()
    deferred: tuple[UncoverableGap, ...] = ()
    covered_by_enrolled: tuple[str, ...] = ()
    total_hours: float = 0.0
    total_cost: float = 0.0
    minimise: Literal["hours", "cost"] = "hours"
    hours_budget: float | None = None
    budget_binding: bool = False
    optimal: bool = True

    @property
    def course_ids(self) -> list[str]:
        """Ids of the chosen courses, in plan order."""
        return [i.course_id for i in self.items]


class SeatAssignment(_Frozen):
    """A seat given to an employee in a course session.

    Attributes:
        employee_id: The employee.
        course_id: The course.
        session_id: The session; None for a course without sessions (self-paced).
        starts: Session start, if any.
        value: Weighted gap closure the course brings to the employee.
        reason: Why the course was chosen (from the employee's plan).

    """

    employee_id: str
    course_id: str
    session_id: str | None = None
    starts: date | None = None
    value: float = 0.0
    reason: str = ""


class WaitlistEntry(_Frozen):
    """A planned course an employee got no seat in, and why.

    Attributes:
        employee_id: The employee.
        course_id: The course.
        value: Weighted gap closure left open.
        reason: E.g. "all 2 sessions of K8s Basics are full (40 seats)".

    """

    employee_id: str
    course_id: str
    value: float = 0.0
    reason: str


class PopulationAssignment(_Frozen):
    """Seats for a population under session capacities.

    Attributes:
        assignments: Seats given.
        waitlist: Planned courses without a seat, with the reason.
        seats_used: Seats taken per session id.
        requested_value: Weighted gap closure of all plans together.
        assigned_value: Weighted gap closure of the seats given.
        optimal: True when the solver proved the assignment optimal.
        solver: "highs-milp", "highs-lp" (LP relaxation, rounded) or "greedy".
        bound: Upper bound on the weighted closure (from the solver; includes tiny
            tie-breaking terms), when known.

    """

    assignments: tuple[SeatAssignment, ...] = ()
    waitlist: tuple[WaitlistEntry, ...] = ()
    seats_used: dict[str, int] = Field(default_factory=dict)
    requested_value: float = 0.0
    assigned_value: float = 0.0
    optimal: bool = True
    solver: str = "highs-milp"
    bound: float | None = None
