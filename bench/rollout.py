"""Rollout preview at scale: is the preview fast enough for 100,000 employees?

One run, each figure beside a baseline measured in the same run:

1. ``gap diff``: who a new objective-set version affects and by how much (gaps before and
   after, new / closed / changed per employee), the vectorised batch path
   (`activities.rollout.preview.gap_diff`), beside the per-employee product path
   (`effective_requirements` + `decide_gaps`, before and after) timed on a sample and scaled
   to N; the two are checked equal on the sample. Target <= 3 s.
2. ``full preview``: `compute_preview` (gap diff, then plans before and after for every
   affected employee with the planner's `choose_courses`, memoised by gap signature, then the
   rollout's reconciliation, approvals, emails and seats), beside `choose_courses` without the
   memo on a sample of affected employees, scaled to all of them; memoised plans are checked
   equal to unmemoised ones on the sample. Peak memory (max RSS) of the process.

Roles, skills and their levels are real O*NET 29.3 data (CC BY 4.0); employees, assessed
levels, departments, objective sets, the catalog (`talentloop.dev.seed.generate_catalog`) and
its sessions are GENERATED from a fixed seed. The database is not involved: the population is
built in memory as `load_population` would return it.

Usage:
    python bench/rollout.py [--employees 100000] [--sample 5000] [--plan-sample 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from activities.rollout.population import Person, Population, Reference, SessionSeats
from activities.rollout.preview import (
    PlanMemo,
    PlanRules,
    compute_preview,
    gap_diff,
    group_people,
    sets_after,
)
from activities.skills.gaps import decide_gaps, effective_requirements
from activities.skills.onet import OnetData, load_onet
from activities.skills.selection import CatalogIndex, choose_courses
from schemas.learning import LearningPolicy
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.dev.seed import generate_catalog
from talentloop.service.config import Settings
from workflows.employee.approvals import approver_for, needs_approval

ON = date(2027, 2, 1)
NOW = datetime(2027, 2, 1, 8, tzinfo=UTC)
MIN_GAP = 0.5
DEPARTMENTS = [f"dept-{i:02d}" for i in range(12)]
TARGET_DIFF_S = 3.0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def objective_sets(data: OnetData) -> tuple[ObjectiveSet, ObjectiveSet]:
    """GENERATED v1 (in force) and v2 (previewed) of one objective set."""
    sid = {s.name: s.id for s in data.skills}
    it = tuple(r.id for r in data.roles if r.id.startswith("onet:15-"))
    sales = tuple(r.id for r in data.roles if r.id.startswith("onet:41-"))

    def req(name: str, target: float, importance: float | None = None) -> ObjectiveRequirement:
        return ObjectiveRequirement(skill_id=sid[name], target=target, importance=importance)

    v1 = ObjectiveSet(
        id="strategy-bench",
        version=1,
        effective_from=date(2026, 10, 1),
        objectives=(
            Objective(
                id="data-literacy",
                title="Data literacy",
                priority=3,
                due=date(2027, 3, 31),
                requirements=(req("Critical Thinking", 4.0),),
            ),
            Objective(
                id="cloud",
                title="Cloud platform",
                priority=4,
                due=date(2027, 3, 31),
                roles=it,
                requirements=(req("Programming", 5.0),),
            ),
            Objective(
                id="key-accounts",
                title="Key accounts",
                priority=2,
                roles=sales,
                requirements=(req("Persuasion", 5.0),),
            ),
        ),
    )
    v2 = ObjectiveSet(
        id="strategy-bench",
        version=2,
        effective_from=date(2027, 1, 1),
        objectives=(
            Objective(
                id="data-literacy",
                title="Data literacy",
                priority=3,
                due=date(2027, 6, 30),
                requirements=(req("Critical Thinking", 4.5), req("Mathematics", 3.5)),
            ),
            Objective(
                id="cloud",
                title="Cloud platform",
                priority=4,
                due=date(2027, 3, 31),
                roles=it,
                departments=tuple(DEPARTMENTS[:3]),
                requirements=(req("Programming", 5.5), req("Systems Analysis", 5.0, 4)),
            ),
            Objective(
                id="people-leaders",
                title="People leadership",
                priority=2,
                departments=tuple(DEPARTMENTS[8:]),
                requirements=(
                    req("Management of Personnel Resources", 5.0),
                    req("Coordination", 4.5),
                ),
            ),
        ),
    )
    return v1, v2


def generated_world(data: OnetData, n: int, seed: int) -> tuple[Population, Reference]:
    """N GENERATED employees on real O*NET roles (~70 % of skills rated near the role level),
    the demo catalog with GENERATED sessions for a quarter of its courses."""
    rng = np.random.default_rng(seed)
    skill_ids = [s.id for s in data.skills]
    col = {s: j for j, s in enumerate(skill_ids)}
    roles = list(data.roles)
    role_level = np.zeros((len(roles), len(skill_ids)))
    for i, r in enumerate(roles):
        for q in r.requirements:
            role_level[i, col[q.skill_id]] = q.level
    role_of = rng.integers(0, len(roles), size=n)
    dept_of = rng.integers(0, len(DEPARTMENTS), size=n)
    levels = role_level[role_of] + rng.normal(-0.6, 1.1, size=(n, len(skill_ids)))
    levels = np.clip(np.round(levels * 4) / 4, 0.0, 7.0)  # ratings land on quarter levels
    levels[rng.random((n, len(skill_ids))) > 0.7] = np.nan
    managers = {d: f"E{i:06d}" for i, d in enumerate(DEPARTMENTS)}
    people = [
        Person(
            id=f"E{i:06d}",
            role_id=roles[int(role_of[i])].id,
            department=DEPARTMENTS[int(dept_of[i])],
            manager_id=managers[DEPARTMENTS[int(dept_of[i])]] if i >= len(DEPARTMENTS) else None,
            manager_known=True,
        )
        for i in range(n)
    ]
    pyrng = random.Random(seed)
    courses = [c.to_course() for c in generate_catalog(data.skills, pyrng)]
    sessions: dict[str, list[SessionSeats]] = {}
    for c in pyrng.sample(courses, len(courses) // 4):
        start = NOW + timedelta(days=pyrng.randint(7, 60))
        sessions[c.id] = [
            SessionSeats(
                id=f"{c.id}-s{k}",
                course_id=c.id,
                starts=start + timedelta(days=30 * k),
                ends=start + timedelta(days=30 * k + 2),
                capacity=pyrng.choice([20, 40, 200, 2000]),
                taken=pyrng.randint(0, 10),
            )
            for k in range(2)
        ]
    v1, _ = objective_sets(data)
    reference = Reference(
        skills=dict(data.skills_by_id),
        roles={r.id: r for r in roles},
        catalog=CatalogIndex(courses),
        sessions=sessions,
        in_force=[v1],
    )
    empty: frozenset[str] = frozenset()
    population = Population(
        people=people,
        skill_ids=tuple(skill_ids),
        assessed=levels,
        completed=[empty] * n,
        held=[empty] * n,
    )
    return population, reference


def product_path_sample(
    population: Population, reference: Reference, v2: ObjectiveSet, sample: int
) -> tuple[float, list[tuple[int, int]]]:
    """Gaps before and after per employee with the product's per-employee functions."""
    before, after = reference.in_force, sets_after(reference.in_force, v2)
    out: list[tuple[int, int]] = []
    started = time.perf_counter()
    for i in range(sample):
        p = population.people[i]
        role = reference.role(p.role_id)
        levels = population.levels(i)
        gb = decide_gaps(
            effective_requirements(role, before, p.department, ON),
            levels,
            reference.skills,
            min_gap=MIN_GAP,
        )
        ga = decide_gaps(
            effective_requirements(role, after, p.department, ON),
            levels,
            reference.skills,
            min_gap=MIN_GAP,
        )
        out.append((len(gb), len(ga)))
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=5_000)
    ap.add_argument("--plan-sample", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    data = load_onet(Settings().onet_dir)
    population, reference = generated_world(data, args.employees, args.seed)
    _, v2 = objective_sets(data)
    n = args.employees
    rss_start = _max_rss_mb()
    print(
        f"rollout preview bench: {n:,} GENERATED employees on {len(data.roles)} O*NET 29.3 roles "
        f"x {len(data.skills)} skills (real, CC BY 4.0); GENERATED levels, departments, objective "
        f"sets, catalog ({len(reference.catalog)} courses) and sessions (seed {args.seed}); "
        f"{os.cpu_count()} cpu(s)"
    )

    # 1. gap diff
    groups, group = group_people(population, reference)
    after_sets = sets_after(reference.in_force, v2)
    runs = []
    for _ in range(3):
        t_run, gd = _timed(
            lambda: gap_diff(
                groups,
                group,
                population.assessed,
                population.skill_ids,
                reference.in_force,
                after_sets,
                ON,
                min_gap=MIN_GAP,
            )
        )
        runs.append(t_run)
    t_diff = min(runs)
    m = min(args.sample, n)
    t_plain, plain = product_path_sample(population, reference, v2, m)
    vec = list(
        zip(
            np.count_nonzero(gd.before.size[:m] > 0, axis=1).tolist(),
            np.count_nonzero(gd.after.size[:m] > 0, axis=1).tolist(),
            strict=True,
        )
    )
    equal = sum(1 for a, b in zip(vec, plain, strict=True) if a == b)
    scaled = t_plain / m * n
    print(
        f"gap diff      {t_diff:8.3f} s  vectorised, {n:,} employees, best of 3 runs "
        f"({', '.join(f'{t:.3f}' for t in runs)} s); affected "
        f"{int(gd.affected.sum()):,}, gaps new {int(gd.new.sum()):,} / closed "
        f"{int(gd.closed.sum()):,} / changed {int(gd.changed.sum()):,}"
    )
    print(
        f"  baseline    {scaled:8.1f} s  per-employee product path (effective_requirements + "
        f"decide_gaps, before and after): {t_plain:.2f} s for {m:,} sampled, scaled to {n:,} "
        f"(x{scaled / t_diff:.0f}); gap counts equal on {equal:,}/{m:,} sampled"
    )
    print(f"  target      <= {TARGET_DIFF_S:g} s: {'PASS' if t_diff <= TARGET_DIFF_S else 'FAIL'}")

    # 2. full preview
    memo = PlanMemo(reference.catalog)
    rules = PlanRules(needs_approval=needs_approval, approver_for=approver_for)
    t_full, preview = _timed(
        lambda: compute_preview(
            population,
            reference,
            v2,
            on=ON,
            now=NOW,
            policy=LearningPolicy(),
            rules=rules,
            memo=memo,
            min_gap=MIN_GAP,
        )
    )
    s = preview.summary
    rss_end = _max_rss_mb()
    affected = [population.people[int(i)].id for i in np.flatnonzero(gd.affected)]
    k = min(args.plan_sample, len(affected))
    picks = random.Random(args.seed).sample(affected, k)
    mismatched = 0

    def unmemoised() -> None:
        nonlocal mismatched
        for eid in picks:
            row = preview.rows[eid]
            levels = population.levels(row)
            for gaps, memo_plan in (
                (preview.gaps.before.gaps_for(row, reference.skills), preview.plans[eid][0]),
                (preview.gaps.after.gaps_for(row, reference.skills), preview.plans[eid][1]),
            ):
                plan = choose_courses(gaps, reference.catalog, assessed=levels)
                if [(i.course_id, i.reason) for i in plan.items] != [
                    (i.course_id, i.reason) for i in memo_plan.items
                ]:
                    mismatched += 1

    t_sample, _ = _timed(unmemoised)
    per_plan_ms = t_sample / (2 * k) * 1e3 if k else 0.0
    scaled_plans = t_sample / k * len(affected) if k else 0.0
    print(
        f"full preview  {t_full:8.2f} s  gap diff + plans before/after for {s.affected:,} affected "
        f"employees (memoised by gap signature: {s.plans_computed:,} computed, "
        f"{s.plans_reused:,} reused) + reconciliation, approvals, emails, seats"
    )
    print(
        f"  baseline    {scaled_plans:8.1f} s  choose_courses without the memo: {t_sample:.2f} s "
        f"for {k:,} sampled affected employees ({per_plan_ms:.2f} ms per plan), scaled to "
        f"{len(affected):,}; memoised plans equal on {2 * k - mismatched:,}/{2 * k:,} sampled"
    )
    print(
        f"  summary     {s.enrollments_create:,} enrollments to create, "
        f"{s.enrollments_withdraw:,} to withdraw; {s.hours_total:,.0f} h (per employee p50 "
        f"{s.hours_per_employee.p50:g}, p95 {s.hours_per_employee.p95:g}, max "
        f"{s.hours_per_employee.max:g}); cost {s.cost_total:,.0f}; {s.approvals:,} approvals; "
        f"{s.emails:,} emails; {len(s.seats)} sessions with demand, "
        f"{len(s.overflow_sessions)} overflowing"
    )
    print(
        f"peak memory   {rss_end:8.0f} MB  max RSS of the process ({rss_start:.0f} MB after "
        f"generating the population, before the preview)"
    )
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
