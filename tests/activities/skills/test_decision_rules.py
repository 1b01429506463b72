"""The gap rules of docs/decisions.md, each in both paths: per employee and the batch path."""

from __future__ import annotations

from datetime import date

import numpy as np

from activities.skills.assessment import assess
from activities.skills.batch import population_gaps, requirement_matrix
from activities.skills.gaps import decide_gaps, effective_requirements
from schemas.skills import (
    AssessmentPolicy,
    Evidence,
    Objective,
    ObjectiveRequirement,
    Role,
    RoleRequirement,
    Skill,
)

ON = date(2026, 12, 1)
SKILLS = ["crit", "prog", "cloud"]
SKILL_BY_ID = {s: Skill(id=s, name=s.title()) for s in SKILLS}


def both_paths(
    role: Role, objectives: list[Objective], levels: dict[str, float], min_gap: float = 0.5
) -> tuple[list[str], list[str]]:
    """The gap skill ids per employee (planning's rules) and in the batch path."""
    reqs = effective_requirements(role, objectives, None, ON)
    per_employee = decide_gaps(reqs, levels, SKILL_BY_ID, min_gap=min_gap)
    matrix = requirement_matrix([(role, None)], objectives, SKILLS, ON)
    row = np.array([[levels.get(s, np.nan) for s in SKILLS]])
    batch = population_gaps(matrix, [0], row, min_gap=min_gap, role_needs_evidence=True)
    assert batch.gaps_for(0, SKILL_BY_ID) == per_employee
    return [g.skill_id for g in per_employee], [g.skill_id for g in batch.gaps_for(0, SKILL_BY_ID)]


def cloud_objective(target: float) -> Objective:
    return Objective(
        id="Q1-cloud",
        priority=2,
        due=date(2027, 3, 31),
        requirements=(ObjectiveRequirement(skill_id="cloud", target=target),),
    )


def test_rule_objective_claim_survives_when_the_role_requires_more() -> None:
    """An unrated skill an objective asks for is a gap whichever requirement wins the target."""
    asks_less = Role(
        id="r-less", title="Less", requirements=(RoleRequirement(skill_id="cloud", level=2),)
    )
    asks_more = Role(
        id="r-more", title="More", requirements=(RoleRequirement(skill_id="cloud", level=5),)
    )
    objectives = [cloud_objective(3.0)]
    assert both_paths(asks_less, objectives, {}) == (["cloud"], ["cloud"])
    # The role's 5 wins the target, but the objective's claim stands: still a gap, to 5.
    assert both_paths(asks_more, objectives, {}) == (["cloud"], ["cloud"])
    [gap] = decide_gaps(effective_requirements(asks_more, objectives, None, ON), {}, SKILL_BY_ID)
    assert (gap.target, gap.source, gap.claimed_by) == (5.0, "r-more", "Q1-cloud")
    # Without an objective, an unrated role skill stays unknown, not a gap.
    assert both_paths(asks_more, [], {}) == ([], [])


def test_rule_half_level_is_not_noise_whatever_float_rounding_did() -> None:
    """Exactly half a level (2.3 - 1.8 is 0.4999999999999998 in floats) is a gap."""
    role = Role(id="r", title="R", requirements=(RoleRequirement(skill_id="prog", level=2.3),))
    assert 2.3 - 1.8 < 0.5  # the float trap the rule guards against
    assert both_paths(role, [], {"prog": 1.8}) == (["prog"], ["prog"])
    assert both_paths(role, [], {"prog": 1.81}) == ([], [])


def test_rule_recommend_suppress_is_not_a_gap_on_its_own() -> None:
    """A low-precision O*NET requirement sets no target; an objective for the skill still does."""
    role = Role(
        id="r",
        title="R",
        requirements=(
            RoleRequirement(skill_id="prog", level=5, importance=4, suppressed=True),
            RoleRequirement(skill_id="crit", level=4, importance=3),
        ),
    )
    assert both_paths(role, [], {"prog": 1.0, "crit": 1.0}) == (["crit"], ["crit"])
    raise_prog = Objective(
        id="Q1-prog", priority=2, requirements=(ObjectiveRequirement(skill_id="prog", target=3),)
    )
    got, _ = both_paths(role, [raise_prog], {"prog": 1.0, "crit": 1.0})
    assert got == ["prog", "crit"]
    [prog] = [
        g
        for g in decide_gaps(
            effective_requirements(role, [raise_prog], None, ON),
            {"prog": 1.0, "crit": 1.0},
            SKILL_BY_ID,
        )
        if g.skill_id == "prog"
    ]
    # The objective's target (3, not the suppressed 5), weighed by the role's importance.
    assert (prog.target, prog.weight, prog.source) == (3.0, 8.0, "Q1-prog")


def test_rule_latest_policy_respects_courses_raise() -> None:
    """Under "latest", a course never lowers an assessed level, and raises it only if allowed."""

    def ev(level: float, source: str, day: date, ref: str) -> Evidence:
        return Evidence(skill_id="prog", level=level, source=source, observed_at=day, ref=ref)  # type: ignore[arg-type]

    rating = ev(5.0, "review_manager", date(2026, 10, 1), "r-1")
    lower_course = ev(3.0, "course", date(2026, 11, 1), "course:py-101")
    higher_course = ev(6.0, "course", date(2026, 11, 1), "course:py-301")
    latest = AssessmentPolicy(name="latest")
    no_raise = AssessmentPolicy(name="latest", courses_raise=False)
    assert assess([rating, lower_course], latest, on=ON)["prog"].level == 5.0
    assert assess([rating, higher_course], latest, on=ON)["prog"].level == 6.0
    assert assess([rating, higher_course], no_raise, on=ON)["prog"].level == 5.0
    assert assess([rating, lower_course], no_raise, on=ON)["prog"].level == 5.0
