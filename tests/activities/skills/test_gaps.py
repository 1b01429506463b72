"""Effective requirements, assessed proficiency and explainable gaps."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.skills.gaps import assess, compute_gaps, effective_requirements
from schemas.skills import (
    AssessmentPolicy,
    Evidence,
    Objective,
    ObjectiveRequirement,
    ObjectiveSet,
    Role,
    RoleRequirement,
    Skill,
)

ROLE = Role(
    id="onet:15-1211.00",
    title="Computer Systems Analysts",
    requirements=(
        RoleRequirement(skill_id="prog", level=3.0, importance=4.0),
        RoleRequirement(skill_id="write", level=4.0, importance=3.5),
    ),
)
SKILLS = {
    "prog": Skill(id="prog", name="Programming"),
    "write": Skill(id="write", name="Writing"),
    "cloud": Skill(id="cloud", name="Cloud"),
}
ON = date(2026, 6, 1)


def cloud_set(version=1, target=4.0, effective=date(2026, 1, 1), **kw):
    return ObjectiveSet(
        id="strategy",
        version=version,
        effective_from=effective,
        objectives=(
            Objective(
                id="Q3-cloud",
                priority=3,
                due=date(2027, 3, 31),
                roles=(ROLE.id,),
                requirements=(
                    ObjectiveRequirement(skill_id="prog", target=target),
                    ObjectiveRequirement(skill_id="cloud", target=2.0, importance=5),
                ),
                **kw,
            ),
        ),
    )


def by_skill(reqs):
    return {r.skill_id: r for r in reqs}


def test_role_baseline_alone():
    reqs = by_skill(effective_requirements(ROLE, [], None, ON))
    assert reqs["prog"].target == 3 and reqs["prog"].weight == 4 and reqs["prog"].source == ROLE.id
    assert reqs["prog"].objective_id is None


def test_objective_raises_and_adds_skills_with_priority_times_importance():
    reqs = by_skill(effective_requirements(ROLE, [cloud_set()], None, ON))
    assert reqs["prog"].target == 4
    assert reqs["prog"].weight == 3 * 4  # priority x the role's importance
    assert reqs["prog"].objective_id == "Q3-cloud"
    assert reqs["prog"].objective_set == "strategy@v1"
    assert reqs["prog"].due == date(2027, 3, 31)
    assert reqs["prog"].baseline == 3
    assert reqs["cloud"].target == 2 and reqs["cloud"].weight == 15
    assert reqs["write"].source == ROLE.id


def test_highest_target_wins_over_lower_objective():
    reqs = by_skill(effective_requirements(ROLE, [cloud_set(target=2.0)], None, ON))
    assert reqs["prog"].target == 3 and reqs["prog"].source == ROLE.id


def test_newest_effective_version_replaces_older_ones():
    v1, v2 = cloud_set(1, 4.0), cloud_set(2, 5.0, effective=date(2026, 5, 1))
    v3 = cloud_set(3, 6.0, effective=date(2026, 9, 1))  # not yet effective
    reqs = by_skill(effective_requirements(ROLE, [v3, v1, v2], None, ON))
    assert reqs["prog"].target == 5 and reqs["prog"].objective_set == "strategy@v2"


def test_objective_outside_its_dates_or_audience_does_not_apply():
    later = cloud_set(active_from=date(2026, 7, 1))
    assert by_skill(effective_requirements(ROLE, [later], None, ON))["prog"].target == 3
    dept_only = Objective(
        id="sales-push",
        priority=2,
        departments=("sales",),
        requirements=(ObjectiveRequirement(skill_id="prog", target=6),),
    )
    assert by_skill(effective_requirements(ROLE, [dept_only], "eng", ON))["prog"].target == 3
    assert by_skill(effective_requirements(ROLE, [dept_only], "sales", ON))["prog"].target == 6
    everyone = Objective(id="all", requirements=(ObjectiveRequirement(skill_id="cloud", target=1),))
    assert by_skill(effective_requirements(ROLE, [everyone], None, ON))["cloud"].target == 1


def ev(level, source, day, ref, scale="onet-lv", skill="prog"):
    return Evidence(
        skill_id=skill, level=level, scale_id=scale, source=source, observed_at=day, ref=ref
    )


EVIDENCE = [
    ev(5, "review_self", date(2026, 5, 1), "r-self", scale="1-5"),
    ev(2, "review_manager", date(2026, 5, 1), "r-mgr", scale="1-5"),
    ev(3, "review_manager", date(2025, 5, 1), "r-mgr-old", scale="1-5"),
    ev(4.0, "review_peer", date(2026, 5, 2), "r-peer"),
]


def test_manager_over_self_takes_latest_manager_rating_converted_to_lv():
    a = assess(EVIDENCE, "manager_over_self", on=ON)["prog"]
    assert a.level == pytest.approx(1.75)  # 2 on 1-5 is 1.75 on 0-7
    assert [e.ref for e in a.basis] == ["r-mgr"]
    assert len(a.evidence) == 4


def test_course_completed_after_the_rating_raises_the_level():
    course = ev(4.0, "course", date(2026, 5, 20), "course:py-201")
    a = assess([*EVIDENCE, course], on=ON)["prog"]
    assert a.level == 4.0 and "course:py-201" in [e.ref for e in a.basis]


def test_other_policies():
    assert assess(EVIDENCE, "latest", on=ON)["prog"].level == 4.0
    assert assess(EVIDENCE, "highest", on=ON)["prog"].level == 7.0
    mean = assess(EVIDENCE, "recency_weighted_mean", on=ON)["prog"].level
    assert 1.75 < mean < 7
    # A short half-life makes the mean follow the newest evidence.
    fast = AssessmentPolicy(name="recency_weighted_mean", half_life_days=0.1)
    assert assess(EVIDENCE, fast, on=date(2026, 5, 2))["prog"].level == pytest.approx(4.0, abs=0.1)
    with pytest.raises(ValueError):
        assess(EVIDENCE, "loudest")


def test_future_evidence_is_ignored():
    a = assess(EVIDENCE, on=date(2025, 6, 1))["prog"]
    assert a.level == pytest.approx(3.5) and [e.ref for e in a.basis] == ["r-mgr-old"]


def test_gaps_are_weighted_sorted_and_explained():
    reqs = effective_requirements(ROLE, [cloud_set()], None, ON)
    gaps = compute_gaps(reqs, assess(EVIDENCE, on=ON), SKILLS)
    assert [g.skill_id for g in gaps] == ["cloud", "prog", "write"]  # 30, 27, 14
    prog = next(g for g in gaps if g.skill_id == "prog")
    assert prog.size == pytest.approx(2.25) and prog.weight == 12
    text = prog.explain()
    assert "Programming" in text and "Q3-cloud" in text and "2027-03-31" in text
    assert "r-mgr" in text and "manager_over_self" in text
    cloud = next(g for g in gaps if g.skill_id == "cloud")
    assert "no evidence" in cloud.explain()
    assert [g.weighted_size for g in gaps] == sorted((g.weighted_size for g in gaps), reverse=True)


def test_no_gap_when_assessed_at_or_above_target():
    reqs = effective_requirements(ROLE, [], None, ON)
    assert compute_gaps(reqs, {"prog": 3.0, "write": 5.0}, SKILLS) == []


levels = st.floats(min_value=0, max_value=7, allow_nan=False)


@given(
    st.dictionaries(st.sampled_from(["prog", "write", "cloud"]), levels),
    st.lists(
        st.tuples(st.sampled_from(["prog", "write", "cloud"]), levels, st.integers(1, 5)),
        max_size=4,
    ),
)
def test_gap_is_target_minus_assessed_when_positive(assessed, objective_reqs):
    objs = [
        Objective(
            id=f"o{i}", priority=p, requirements=(ObjectiveRequirement(skill_id=s, target=t),)
        )
        for i, (s, t, p) in enumerate(objective_reqs)
    ]
    reqs = effective_requirements(ROLE, objs, None, ON)
    targets = {q.skill_id: q.level for q in ROLE.requirements}
    for s, t, _ in objective_reqs:
        targets[s] = max(targets.get(s, 0), t)
    assert {r.skill_id: r.target for r in reqs} == pytest.approx(targets, abs=1e-6)
    gaps = {g.skill_id: g for g in compute_gaps(reqs, assessed, SKILLS)}
    for r in reqs:
        size = r.target - assessed.get(r.skill_id, 0.0)
        if size > 1e-9:
            assert gaps[r.skill_id].size == pytest.approx(size)
            if r.objective_id:
                assert any(o.id == r.objective_id for o in objs)
        else:
            assert r.skill_id not in gaps
