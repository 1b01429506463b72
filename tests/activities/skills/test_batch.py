"""Population gaps computed at once equal the per-employee path (generated employees)."""

import random
from datetime import date

import numpy as np
import pytest

from activities.skills.batch import population_gaps, requirement_matrix
from activities.skills.gaps import compute_gaps, decide_gaps, effective_requirements
from schemas.skills import (
    Objective,
    ObjectiveRequirement,
    ObjectiveSet,
    Role,
    RoleRequirement,
    Skill,
)

ON = date(2026, 6, 1)
SKILLS = [f"s{i}" for i in range(8)]
SKILL_BY_ID = {s: Skill(id=s, name=s.upper()) for s in SKILLS}
DEPARTMENTS = ["sales", "ops", "eng", None]


def random_roles(rng: random.Random, n: int = 6) -> list[Role]:
    return [
        Role(
            id=f"onet:{i}",
            title=f"Role {i}",
            requirements=tuple(
                RoleRequirement(
                    skill_id=s,
                    level=rng.choice([1.0, 2.5, 3.0, 4.0, 5.25]),
                    importance=rng.choice([1.5, 3.0, 4.0]),
                    suppressed=rng.random() < 0.15,
                )
                for s in rng.sample(SKILLS, rng.randint(2, 7))
            ),
        )
        for i in range(n)
    ]


def random_objectives(rng: random.Random, roles: list[Role]) -> list[ObjectiveSet | Objective]:
    def objective(k: int) -> Objective:
        scope = rng.choice(["all", "role", "dept", "both"])
        return Objective(
            id=f"obj{k}",
            title=f"Objective {k}",
            priority=rng.choice([1.0, 2.0, 3.0]),
            due=rng.choice([None, date(2027, 1, 1), date(2027, 6, 30)]),
            roles=tuple(r.id for r in rng.sample(roles, 2)) if scope in ("role", "both") else (),
            departments=("eng",) if scope in ("dept", "both") else (),
            active_until=rng.choice([None, None, date(2026, 1, 1)]),
            requirements=tuple(
                ObjectiveRequirement(
                    skill_id=s,
                    target=rng.choice([3.0, 4.0, 5.25, 6.0]),  # ties with roles are common
                    importance=rng.choice([None, None, 2.0, 4.0]),
                )
                for s in rng.sample(SKILLS, rng.randint(1, 4))
            ),
        )

    return [
        ObjectiveSet(
            id="strategy",
            version=1,
            effective_from=date(2026, 1, 1),
            objectives=(objective(0), objective(1)),
        ),
        ObjectiveSet(
            id="strategy",
            version=2,
            effective_from=date(2026, 3, 1),
            objectives=(objective(2), objective(3), objective(4)),
        ),
        ObjectiveSet(
            id="later", version=1, effective_from=date(2027, 1, 1), objectives=(objective(5),)
        ),
        objective(6),
    ]


def plain(role, objectives, dept, levels, min_gap, role_needs_evidence):
    """The per-employee path: the product's rules (`decide_gaps`, as activities/planning.py)."""
    assessed = {s: v for s, v in levels.items() if not np.isnan(v)}
    reqs = effective_requirements(role, objectives, dept, ON)
    if role_needs_evidence:
        return decide_gaps(reqs, assessed, SKILL_BY_ID, min_gap=min_gap)
    return [g for g in compute_gaps(reqs, assessed, SKILL_BY_ID) if g.size >= min_gap]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("min_gap", "role_needs_evidence"), [(0.0, False), (0.5, True)])
def test_population_gaps_equal_the_per_employee_path(seed, min_gap, role_needs_evidence):
    rng = random.Random(seed)
    roles = random_roles(rng)
    objectives = random_objectives(rng, roles)
    groups = [(r, d) for r in roles for d in DEPARTMENTS]
    matrix = requirement_matrix(groups, objectives, SKILLS, ON)
    n = 300
    group = np.array([rng.randrange(len(groups)) for _ in range(n)])
    assessed = np.array(
        [
            [rng.choice([np.nan, rng.uniform(0, 7), float(rng.randint(0, 7))]) for _ in SKILLS]
            for _ in range(n)
        ]
    )
    out = population_gaps(
        matrix, group, assessed, min_gap=min_gap, role_needs_evidence=role_needs_evidence
    )
    for e in range(n):
        role, dept = groups[group[e]]
        expected = plain(
            role,
            objectives,
            dept,
            dict(zip(SKILLS, assessed[e], strict=True)),
            min_gap,
            role_needs_evidence,
        )
        assert out.gaps_for(e, SKILL_BY_ID) == expected
        assert out.totals()[e] == pytest.approx(sum(g.weighted_size for g in expected))
        assert out.counts()[e] == len(expected)


def test_product_rule_unrated_role_skill_is_no_gap_but_unrated_objective_skill_is():
    role = Role(
        id="onet:15-1232.00",
        title="Computer User Support Specialists",
        requirements=(
            RoleRequirement(skill_id="s0", level=4, importance=3),
            RoleRequirement(skill_id="s1", level=4, importance=3),
        ),
    )
    cloud = Objective(
        id="Q3-cloud", priority=2, requirements=(ObjectiveRequirement(skill_id="s2", target=3),)
    )
    matrix = requirement_matrix([(role, None)], [cloud], SKILLS, ON)
    levels = np.full((1, len(SKILLS)), np.nan)
    levels[0, 0] = 3.8  # within rating noise of 4
    rule = population_gaps(matrix, [0], levels, min_gap=0.5, role_needs_evidence=True)
    [gap] = rule.gaps_for(0, SKILL_BY_ID)
    assert gap.skill_id == "s2" and gap.size == 3 and gap.weight == 6
    every = population_gaps(matrix, [0], levels)
    assert [g.skill_id for g in every.gaps_for(0, SKILL_BY_ID)] == ["s2", "s1", "s0"]
    role_gap = every.gaps_for(0, SKILL_BY_ID)[1]
    assert role_gap.purpose() == "for role Computer User Support Specialists"


def test_shape_mismatch_is_refused():
    matrix = requirement_matrix([(random_roles(random.Random(1))[0], None)], [], SKILLS, ON)
    with pytest.raises(ValueError, match="employees x skills"):
        population_gaps(matrix, [0, 0], np.zeros((2, 3)))
