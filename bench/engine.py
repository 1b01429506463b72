"""Skills engine: is it fast enough for 100,000 employees?

One run measures, each beside a baseline measured in the same run:

1. ``gaps``: gap computation for N GENERATED employees x 35 skills against real O*NET roles
   plus a GENERATED objective set, vectorised (`activities.skills.batch`), beside a plain-Python
   loop over the same data, and the product's per-employee path (effective_requirements +
   compute_gaps) on a sample; the vectorised result is checked against the plain loop.
2. ``selection``: per-employee course selection (`choose_courses`, default method "auto") on
   M GENERATED instances (gaps of the generated employees above), against the exact reference
   (method "exact"): mean time per employee and share of instances at the exact optimum, on
   the demo catalog shape (`talentloop.dev.seed.generate_catalog`: a 3-step ladder per skill plus
   bundles) and on a harder GENERATED catalog (longer ladders, hard prerequisites, multi-skill
   courses), where the "fast" method is reported too.
3. ``assignment``: capacity-aware seat assignment (`assign_population`) for E employees'
   plans and S GENERATED sessions, beside the greedy baseline: time and weighted closure.

Roles, skills and their levels are real O*NET 29.3 data (CC BY 4.0); employees, evidence
(assessed levels), objectives, catalogs and sessions are generated from a fixed seed.

Usage:
    python bench/engine.py [--employees 100000] [--instances 1000] [--hard-instances 100]
        [--assign-employees 10000] [--sessions 200] [--product-sample 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from activities.skills.batch import PopulationGaps, population_gaps, requirement_matrix
from activities.skills.gaps import compute_gaps, effective_requirements
from activities.skills.onet import OnetData, load_onet
from activities.skills.population import assign_population
from activities.skills.selection import CatalogIndex, choose_courses
from schemas.skills import (
    Course,
    CourseSession,
    CourseSkill,
    Gap,
    Objective,
    ObjectiveRequirement,
    ObjectiveSet,
    Plan,
    Role,
)
from talentloop.dev.seed import generate_catalog
from talentloop.service.config import Settings

ON = date(2026, 6, 1)
MIN_GAP = 0.5  # the product's rule, as activities/planning.py applies it
DEPARTMENTS = [f"dept-{i:02d}" for i in range(12)]
TARGET_GAPS_S = 1.0
TARGET_SELECTION_MS = 1.0
TARGET_OPTIMAL_SHARE = 0.99
SINGLE_SKILL_BUNDLES = ("Speaking", "Writing", "Active Listening")


@dataclass
class Row:
    """One line of the result table."""

    section: str
    measure: str
    value: str
    baseline: str
    target: str = ""
    verdict: str = ""


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


# --- generated data ---------------------------------------------------------------------------


def generated_objectives(data: OnetData) -> ObjectiveSet:
    """A GENERATED strategy: one objective for everyone, two per department, one per role family."""
    by_name = {s.name: s.id for s in data.skills}
    it_roles = tuple(r.id for r in data.roles if r.id.startswith("onet:15-"))
    sales_roles = tuple(r.id for r in data.roles if r.id.startswith("onet:41-"))

    def reqs(*pairs: tuple[str, float]) -> tuple[ObjectiveRequirement, ...]:
        return tuple(ObjectiveRequirement(skill_id=by_name[n], target=t) for n, t in pairs)

    return ObjectiveSet(
        id="strategy-bench",
        version=1,
        effective_from=date(2026, 1, 1),
        objectives=(
            Objective(
                id="data-literacy",
                title="Data literacy for all",
                priority=2,
                due=date(2026, 12, 31),
                requirements=reqs(("Critical Thinking", 4.0), ("Mathematics", 3.0)),
            ),
            Objective(
                id="cloud-platform",
                title="Cloud platform",
                priority=3,
                due=date(2027, 3, 31),
                roles=it_roles,
                requirements=reqs(("Programming", 5.0), ("Systems Analysis", 4.5)),
            ),
            Objective(
                id="key-accounts",
                title="Key accounts",
                priority=2,
                roles=sales_roles,
                requirements=reqs(("Persuasion", 5.0), ("Negotiation", 4.5)),
            ),
            Objective(
                id="ops-excellence",
                title="Operational excellence",
                priority=1.5,
                departments=tuple(DEPARTMENTS[:4]),
                requirements=reqs(("Quality Control Analysis", 4.0), ("Time Management", 4.0)),
            ),
            Objective(
                id="people-leaders",
                title="People leadership",
                priority=2,
                departments=tuple(DEPARTMENTS[8:]),
                requirements=reqs(
                    ("Management of Personnel Resources", 4.5),
                    ("Coordination", 4.5),
                    ("Speaking", 4.5),
                ),
            ),
        ),
    )


@dataclass
class Population:
    """GENERATED employees: requirement group, and assessed levels (NaN: no evidence)."""

    groups: list[tuple[Role, str | None]]
    group: np.ndarray
    assessed: np.ndarray


def generated_population(data: OnetData, n: int, seed: int) -> Population:
    """N GENERATED employees on real O*NET roles: ~70 % of skills rated, near the role level."""
    rng = np.random.default_rng(seed)
    skill_ids = [s.id for s in data.skills]
    groups: list[tuple[Role, str | None]] = [(r, d) for r in data.roles for d in DEPARTMENTS]
    role_level = np.zeros((len(data.roles), len(skill_ids)))
    col = {s: j for j, s in enumerate(skill_ids)}
    for i, r in enumerate(data.roles):
        for req in r.requirements:
            role_level[i, col[req.skill_id]] = req.level
    group = rng.integers(0, len(groups), size=n)
    role_of = group // len(DEPARTMENTS)
    levels = role_level[role_of] + rng.normal(-0.6, 1.1, size=(n, len(skill_ids)))
    levels = np.clip(np.round(levels * 4) / 4, 0.0, 7.0)  # ratings land on quarter levels
    levels[rng.random((n, len(skill_ids))) > 0.7] = np.nan
    return Population(groups=groups, group=group, assessed=levels)


def demo_catalog(data: OnetData, seed: int) -> list[Course]:
    """The demo catalog shape, GENERATED by `talentloop.dev.seed.generate_catalog`."""
    return [r.to_course() for r in generate_catalog(data.skills, random.Random(seed))]


def hard_catalog(data: OnetData, seed: int) -> list[Course]:
    """A harder GENERATED catalog: 4-step ladders with hard prerequisites, bootcamps, and 40
    multi-skill courses (some with prerequisites)."""
    rng = random.Random(seed)
    out: list[Course] = []
    for s in data.skills:
        slug = s.id.split(":")[-1]
        steps = [
            ("intro", 0.0, 2.0, 4, None),
            ("core", 1.0, 4.0, 8, "intro"),
            ("advanced", 3.0, 5.5, 14, None),
            ("expert", 5.0, 7.0, 20, "advanced"),
        ]
        for name, lo, hi, base, pre in steps:
            hours = float(base + rng.randint(0, base // 2))
            out.append(
                Course(
                    id=f"h-{slug}-{name}",
                    title=f"{s.name}: {name}",
                    hours=hours,
                    cost=hours * 40,
                    teaches=(CourseSkill(skill_id=s.id, from_level=lo, to_level=hi),),
                    prerequisites=(f"h-{slug}-{pre}",) if pre and rng.random() < 0.5 else (),
                )
            )
        hours = float(rng.randint(22, 30))
        out.append(
            Course(
                id=f"h-{slug}-bootcamp",
                title=f"{s.name} bootcamp",
                hours=hours,
                cost=hours * 60,
                teaches=(CourseSkill(skill_id=s.id, from_level=0.0, to_level=5.0),),
            )
        )
    for k in range(40):
        members = rng.sample(data.skills, rng.randint(2, 3))
        lo = float(rng.choice([0, 1, 2, 3]))
        hi = min(7.0, lo + rng.choice([2.0, 2.5, 3.0]))
        hours = float(rng.randint(8, 24))
        pre = rng.choice(out).id if rng.random() < 0.3 else None
        out.append(
            Course(
                id=f"h-multi-{k:02d}",
                title=f"Cross-skill {k}",
                hours=hours,
                cost=hours * 35,
                teaches=tuple(
                    CourseSkill(skill_id=m.id, from_level=lo, to_level=hi) for m in members
                ),
                prerequisites=(pre,) if pre else (),
            )
        )
    return out


# --- 1. gaps ----------------------------------------------------------------------------------


def plain_loop_gaps(
    pop: Population, objectives: Sequence[ObjectiveSet], skill_ids: Sequence[str]
) -> tuple[list[list[float]], int]:
    """The same computation as a plain-Python loop: requirements per group, then per employee."""
    col = {s: j for j, s in enumerate(skill_ids)}
    per_group: dict[int, list[tuple[int, float, float, bool]]] = {}
    assessed = pop.assessed.tolist()
    out: list[list[float]] = []
    count = 0
    for e, g in enumerate(pop.group.tolist()):
        reqs = per_group.get(g)
        if reqs is None:
            role, dept = pop.groups[g]
            reqs = per_group[g] = [
                (col[r.skill_id], r.target, r.weight, r.objective_id is not None)
                for r in effective_requirements(role, objectives, dept, ON)
                if r.skill_id in col
            ]
        row = assessed[e]
        weighted = [0.0] * len(skill_ids)
        for j, target, weight, from_objective in reqs:
            level = row[j]
            rated = level == level  # not NaN
            if not rated and not from_objective:
                continue
            size = target - (level if rated else 0.0)
            if size >= MIN_GAP and size > 1e-9:
                weighted[j] = size * weight
                count += 1
        out.append(weighted)
    return out, count


def bench_gaps(
    data: OnetData, pop: Population, objectives: ObjectiveSet, sample: int
) -> tuple[list[Row], PopulationGaps]:
    """Vectorised gaps vs the plain-Python loop (and the product path on a sample)."""
    skill_ids = [s.id for s in data.skills]
    n = len(pop.group)
    t_matrix, matrix = _timed(lambda: requirement_matrix(pop.groups, [objectives], skill_ids, ON))
    t_gaps, gaps = _timed(
        lambda: population_gaps(
            matrix, pop.group, pop.assessed, min_gap=MIN_GAP, role_needs_evidence=True
        )
    )
    t_vec = t_matrix + t_gaps
    t_plain, (plain, plain_count) = _timed(lambda: plain_loop_gaps(pop, [objectives], skill_ids))
    diff = float(np.max(np.abs(np.asarray(plain) - gaps.weighted)))
    count = int(gaps.counts().sum())

    def product_path() -> int:
        total = 0
        for e in range(min(sample, n)):
            role, dept = pop.groups[int(pop.group[e])]
            row = pop.assessed[e]
            assessed = {s: float(v) for s, v in zip(skill_ids, row, strict=True) if v == v}
            reqs = [
                r
                for r in effective_requirements(role, [objectives], dept, ON)
                if r.skill_id in assessed or r.objective_id is not None
            ]
            total += sum(
                1 for g in compute_gaps(reqs, assessed, data.skills_by_id) if g.size >= MIN_GAP
            )
        return total

    m = min(sample, n)
    t_product, _ = _timed(product_path)
    rows = [
        Row(
            "gaps",
            f"{n:,} employees x {len(skill_ids)} skills, {len(pop.groups):,} role x dept groups",
            f"{t_vec:.3f} s",
            f"{t_plain:.2f} s plain loop",
            f"<= {TARGET_GAPS_S:g} s",
            "PASS" if t_vec <= TARGET_GAPS_S else "FAIL",
        ),
        Row(
            "gaps",
            "  of which requirements / gaps",
            f"{t_matrix:.3f} / {t_gaps:.3f} s",
            f"x{t_plain / t_vec:.0f} faster",
        ),
        Row(
            "gaps",
            "  gaps found (vectorised / plain)",
            f"{count:,}",
            f"{plain_count:,}",
            "equal",
            "PASS" if count == plain_count and diff < 1e-9 else "FAIL",
        ),
        Row("gaps", "  max |weighted gap difference|", f"{diff:.1e}", ""),
        Row(
            "gaps",
            f"  product path per employee ({m:,} sampled)",
            f"{t_vec / n * 1e6:.2f} us",
            f"{t_product / m * 1e6:.0f} us",
        ),
    ]
    return rows, gaps


# --- 2. selection -----------------------------------------------------------------------------


def instances(
    data: OnetData, pop: Population, gaps: PopulationGaps, count: int
) -> list[tuple[list[Gap], dict[str, float]]]:
    """The first COUNT generated employees with a gap: their gaps and assessed levels."""
    skill_ids = [s.id for s in data.skills]
    out: list[tuple[list[Gap], dict[str, float]]] = []
    for e in np.flatnonzero(gaps.counts() > 0)[:count]:
        row = pop.assessed[e]
        assessed = {s: float(v) for s, v in zip(skill_ids, row, strict=True) if v == v}
        out.append((gaps.gaps_for(int(e), data.skills_by_id), assessed))
    return out


def _objective(plan: Plan) -> float:
    return plan.total_hours


def bench_selection(
    label: str,
    catalog: list[Course],
    cases: list[tuple[list[Gap], dict[str, float]]],
    methods: Sequence[str],
    targets: bool,
) -> list[Row]:
    """Mean time per employee and share at the exact optimum, per method, vs "exact"."""
    index = CatalogIndex(catalog)
    for g, a in cases[:20]:  # warm the index's caches
        choose_courses(g, index, assessed=a)
    times: dict[str, list[float]] = {}
    plans: dict[str, list[Plan]] = {}
    for method in ["exact", *methods]:
        gc.collect()
        ts: list[float] = []
        ps: list[Plan] = []
        for g, a in cases:
            started = time.perf_counter()
            ps.append(choose_courses(g, index, assessed=a, method=method))  # type: ignore[arg-type]
            ts.append(time.perf_counter() - started)
        times[method], plans[method] = ts, ps
    exact = plans["exact"]
    proven = sum(p.optimal for p in exact)
    mean_gaps = statistics.mean(len(g) for g, _ in cases)
    rows = [
        Row(
            "selection",
            f"{label}: {len(cases):,} instances, {len(catalog)} courses, "
            f"{mean_gaps:.1f} gaps/employee",
            "",
            "",
        )
    ]
    ex_ms = statistics.mean(times["exact"]) * 1e3
    for method in methods:
        at_opt = sum(
            _objective(p) <= _objective(q) + 1e-6 for p, q in zip(plans[method], exact, strict=True)
        ) / len(cases)
        ms = statistics.mean(times[method]) * 1e3
        p99 = float(np.percentile(times[method], 99)) * 1e3
        ok_t = ms <= TARGET_SELECTION_MS
        ok_o = at_opt >= TARGET_OPTIMAL_SHARE
        rows.append(
            Row(
                "selection",
                f"  {method}: mean time per employee (p99)",
                f"{ms:.2f} ms ({p99:.1f})",
                f"{ex_ms:.2f} ms exact ({np.percentile(times['exact'], 99) * 1e3:.1f})",
                f"<= {TARGET_SELECTION_MS:g} ms" if targets else "(report)",
                ("PASS" if ok_t else "FAIL") if targets else "",
            )
        )
        rows.append(
            Row(
                "selection",
                f"  {method}: share at the exact optimum",
                f"{at_opt:.1%}",
                f"exact proven optimal {proven}/{len(cases)}",
                f">= {TARGET_OPTIMAL_SHARE:.0%}" if targets else "(report)",
                ("PASS" if ok_o else "FAIL") if targets else "",
            )
        )
        claimed = sum(p.optimal for p in plans[method])
        rows.append(
            Row(
                "selection",
                f"  {method}: plans that prove optimality",
                f"{claimed}/{len(cases)}",
                "",
            )
        )
    return rows


# --- 3. assignment ----------------------------------------------------------------------------


def with_sessions(
    catalog: list[Course], plans: dict[str, Plan], sessions: int, seed: int
) -> tuple[list[Course], int]:
    """GENERATED sessions for the most demanded courses, 5 per course, with scarce seats."""
    rng = random.Random(seed)
    demand: dict[str, int] = {}
    for p in plans.values():
        for it in p.items:
            demand[it.course_id] = demand.get(it.course_id, 0) + 1
    per_course = 5
    top = sorted(demand, key=lambda c: (-demand[c], c))[: sessions // per_course]
    start = date(2026, 7, 6)
    out: list[Course] = []
    seats = 0
    for c in catalog:
        if c.id not in top:
            out.append(c)
            continue
        cap = max(1, round(demand[c.id] * rng.uniform(0.5, 0.9) / per_course))
        sess = []
        for k in range(per_course):
            day = start + timedelta(days=14 * k + rng.randint(0, 6))
            sess.append(
                CourseSession(
                    id=f"{c.id}-s{k}", starts=day, ends=day + timedelta(days=2), capacity=cap
                )
            )
            seats += cap
        out.append(c.model_copy(update={"sessions": tuple(sess)}))
    return out, seats


def bench_assignment(
    catalog: list[Course], cases: list[tuple[list[Gap], dict[str, float]]], sessions: int, seed: int
) -> list[Row]:
    """assign_population (MILP or LP + rounding) vs its greedy baseline."""
    index = CatalogIndex(catalog)
    t_plans, plans = _timed(
        lambda: {
            f"E{k:06d}": choose_courses(g, index, assessed=a) for k, (g, a) in enumerate(cases)
        }
    )
    sessioned, seats = with_sessions(catalog, plans, sessions, seed)
    n_sessions = sum(len(c.sessions) for c in sessioned)
    t_opt, opt = _timed(lambda: assign_population(plans, sessioned))
    t_greedy, greedy = _timed(lambda: assign_population(plans, sessioned, max_variables=0))
    items = sum(len(p.items) for p in plans.values())
    bound = f", bound {opt.bound:,.1f}" if opt.bound is not None else ""
    over = any(
        used > next(s.capacity for c in sessioned for s in c.sessions if s.id == sid)
        for sid, used in opt.seats_used.items()
    )
    return [
        Row(
            "assignment",
            f"{len(plans):,} employees, {items:,} plan items, {n_sessions} "
            f"sessions ({seats:,} seats)",
            "",
            f"plans chosen in {t_plans:.1f} s",
        ),
        Row(
            "assignment",
            f"  time: {opt.solver} / greedy",
            f"{t_opt:.2f} s",
            f"{t_greedy:.2f} s greedy",
        ),
        Row(
            "assignment",
            "  weighted gap closure assigned",
            f"{opt.assigned_value:,.1f}{bound}",
            f"{greedy.assigned_value:,.1f} greedy",
            ">= greedy",
            "PASS" if opt.assigned_value >= greedy.assigned_value - 1e-6 else "FAIL",
        ),
        Row(
            "assignment",
            "  seats given / waitlisted",
            f"{len(opt.assignments):,} / {len(opt.waitlist):,}",
            f"{len(greedy.assignments):,} / {len(greedy.waitlist):,}",
            "no session over capacity",
            "FAIL" if over else "PASS",
        ),
    ]


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--instances", type=int, default=1_000)
    ap.add_argument("--hard-instances", type=int, default=100)
    ap.add_argument("--assign-employees", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--product-sample", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    started = time.perf_counter()
    data = load_onet(Settings().onet_dir)
    objectives = generated_objectives(data)
    pop = generated_population(data, args.employees, args.seed)
    rows, gaps = bench_gaps(data, pop, objectives, args.product_sample)
    need = max(args.instances, args.hard_instances, args.assign_employees)
    cases = instances(data, pop, gaps, need)
    demo = demo_catalog(data, args.seed)
    rows += bench_selection("demo catalog shape", demo, cases[: args.instances], ["auto"], True)
    rows += bench_selection(
        "harder catalog",
        hard_catalog(data, args.seed),
        cases[: args.hard_instances],
        ["auto", "fast"],
        False,
    )
    rows += bench_assignment(demo, cases[: args.assign_employees], args.sessions, args.seed)

    print(
        f"skills engine bench: O*NET 29.3 roles ({len(data.roles)}) and skills "
        f"({len(data.skills)}, real, CC BY 4.0); employees, assessed levels, objectives, "
        f"catalogs, sessions GENERATED (seed {args.seed}); {os.cpu_count()} cpu(s)"
    )
    widths = [
        max(len(getattr(r, f)) for r in rows) for f in ("measure", "value", "baseline", "target")
    ]
    head = ("measure", "value", "baseline (same run)", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    print(
        f"{'':11}{head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:<{widths[2]}}  "
        f"{head[3]:<{widths[3]}}  verdict"
    )
    last = ""
    for r in rows:
        sec = r.section if r.section != last else ""
        last = r.section
        print(
            f"{sec:<11}{r.measure:<{widths[0]}}  {r.value:>{widths[1]}}  "
            f"{r.baseline:<{widths[2]}}  {r.target:<{widths[3]}}  {r.verdict}"
        )
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
