"""Course selection for one employee: close every coverable gap at minimum hours or cost.

The problem is a weighted set cover with levels: each gap (skill, target) needs a chosen course
that teaches the skill up to the target; a course can start only once its prerequisites are
done (completed, enrolled, or earlier in the plan) and the learner has its starting levels,
which earlier courses may provide. The exact search branches on an open need and on which
course provides it (for a starting level: the first course to reach it), keeps the provider
graph acyclic so an order exists, and prunes with a fractional-cover lower bound. When an hours
budget makes covering everything impossible, a branch and bound maximises weighted gap closure
within the budget instead. Both are exact; a node limit guards pathological catalogs (the plan
then says ``optimal=False``).

Most catalogs are ladders: single-skill courses without prerequisites, plus a few multi-skill
or prerequisite-bound ("special") courses. Those are solved first, and exactly, by shortest
paths on each skill's ladder with every ordered choice of the few special courses enumerated
(:class:`_LadderCover`); where special courses are too many to enumerate, the MILP solves the
part. The search above is the reference (``method="exact"``).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from schemas.skills import Course, Gap, Plan, PlanItem, UncoverableGap, format_level

EPS = 1e-9
DEFAULT_NODE_LIMIT = 5_000
FAST_NODE_LIMIT = 300
"""Search nodes per part the "fast" method spends when ladders and MILP did not solve it."""
FAST_MILP_SECONDS = 0.05
"""Time the "fast" method gives the MILP on a part the ladders cannot solve."""

Method = Literal["auto", "fast", "exact"]
"""How ``choose_courses`` searches: "auto" (ladders where they apply, else the MILP, else the
search; exact), "fast" (the same with time limits: may miss the optimum, and says so) or
"exact" (the search, then the MILP: the reference)."""

Need = tuple[str, float]


class CatalogIndex:
    """A course catalog indexed for selection; build once, reuse for many employees."""

    def __init__(self, catalog: Iterable[Course]) -> None:
        """Index ``catalog`` by course id and by taught skill."""
        self.courses: dict[str, Course] = {c.id: c for c in catalog}
        self.by_skill: dict[str, list[Course]] = {}
        for c in self.courses.values():
            for t in c.teaches:
                self.by_skill.setdefault(t.skill_id, []).append(c)
        self._dominators: dict[str, dict[str, tuple[str, ...]]] = {}
        self._reaching: dict[str, list[tuple[Course, float]]] = {}
        for s, courses in self.by_skill.items():
            pairs = [(c, t.to_level) for c in courses for t in c.teaches if t.skill_id == s]
            pairs.sort(key=lambda ct: (-ct[1], ct[0].id))
            self._reaching[s] = pairs
        self._entry_level = {
            c.id: max((t.from_level for t in c.teaches), default=0.0) for c in self.courses.values()
        }

    def __len__(self) -> int:
        return len(self.courses)

    def reaching(self, skill: str) -> list[tuple[Course, float]]:
        """Courses teaching ``skill``, each with the level it brings, highest first."""
        return self._reaching.get(skill, [])

    def entry_level(self, course_id: str) -> float:
        """Highest starting level the course needs in any skill."""
        return self._entry_level.get(course_id, 0.0)

    def dominators(self, minimise: str) -> dict[str, tuple[str, ...]]:
        """For each course, the courses that are at least as good in every respect.

        Course p dominates q when p costs no more (in the objective and in hours), needs no
        prerequisite q does not need, needs no starting level q does not need, and teaches
        every skill q teaches at least as far; ties are broken by id. Any plan with q stays
        feasible and no worse with p in q's place, so q need not be considered while p is
        available. A course that is another's prerequisite is never dominated.
        """
        got = self._dominators.get(minimise)
        if got is None:
            got = self._dominators[minimise] = self._compute_dominators(minimise)
        return got

    def _compute_dominators(self, minimise: str) -> dict[str, tuple[str, ...]]:
        def key(c: Course) -> tuple[float, float]:
            return (c.hours, c.cost) if minimise == "hours" else (c.cost, c.hours)

        required = {p for c in self.courses.values() for p in c.prerequisites}
        out: dict[str, tuple[str, ...]] = {}
        for q in self.courses.values():
            if not q.teaches or q.id in required:
                continue
            q_to = {t.skill_id: t.to_level for t in q.teaches}
            q_from = {t.skill_id: t.from_level for t in q.teaches}
            q_pre = set(q.prerequisites)
            kq = key(q)
            doms: list[str] = []
            for p in self.by_skill.get(q.teaches[0].skill_id, ()):
                if p.id == q.id:
                    continue
                kp = key(p)
                if kp[0] > kq[0] or kp[1] > kq[1] or (kp == kq and p.id > q.id):
                    continue
                if q.id in p.prerequisites or not set(p.prerequisites) <= q_pre:
                    continue
                p_to = {t.skill_id: t.to_level for t in p.teaches}
                if any(p_to.get(s, -1.0) < lvl for s, lvl in q_to.items()):
                    continue
                if any(
                    t.from_level > 0 and q_from.get(t.skill_id, -1.0) < t.from_level
                    for t in p.teaches
                ):
                    continue
                if (
                    kp == kq
                    and p_to == q_to
                    and {t.skill_id: t.from_level for t in p.teaches} == q_from
                    and p.id > q.id
                ):
                    continue
                doms.append(p.id)
            if doms:
                out[q.id] = tuple(doms)
        return out


@dataclass
class _Cand:
    """A candidate course with prerequisites as candidate indices."""

    course: Course
    obj: float
    hours: float
    teaches: list[tuple[str, float, float]]
    prereqs: list[int] = field(default_factory=list)
    entry: list[Need] = field(default_factory=list)


@dataclass
class _Problem:
    cands: list[_Cand]
    start: dict[str, float]
    goals: list[Need]
    budget: float | None
    node_limit: int
    providers: dict[Need, list[int]] = field(default_factory=dict)
    entry_providers: dict[Need, list[int]] = field(default_factory=dict)

    def provs(self, need: Need) -> list[int]:
        got = self.providers.get(need)
        if got is None:
            s, lvl = need
            got = [
                i
                for i, c in enumerate(self.cands)
                if any(sk == s and to >= lvl - EPS for sk, _, to in c.teaches)
            ]
            got.sort(key=lambda i: (self.cands[i].obj, self.cands[i].hours, i))
            self.providers[need] = got
        return got

    def entry_provs(self, need: Need) -> list[int]:
        """Courses that can be the first to bring skill need[0] to need[1].

        Such a course must start below that level in the skill (else it needs it itself).
        """
        got = self.entry_providers.get(need)
        if got is None:
            s, lvl = need
            got = [
                i
                for i in self.provs(need)
                if all(f < lvl - EPS for sk, f, _ in self.cands[i].teaches if sk == s)
            ]
            self.entry_providers[need] = got
        return got

    def fixpoint(self, chosen: Iterable[int]) -> tuple[list[int], dict[str, float]]:
        """Courses of ``chosen`` that can be taken in some order, that order, and final levels."""
        levels = dict(self.start)
        done: set[int] = set()
        order: list[int] = []
        left = sorted(chosen, key=lambda i: (self.cands[i].obj, i))
        progress = True
        while progress and left:
            progress = False
            rest: list[int] = []
            for i in left:
                c = self.cands[i]
                if all(p in done for p in c.prereqs) and all(
                    levels.get(s, 0.0) >= f - EPS for s, f in c.entry
                ):
                    done.add(i)
                    order.append(i)
                    for s, _, to in c.teaches:
                        if to > levels.get(s, 0.0):
                            levels[s] = to
                    progress = True
                else:
                    rest.append(i)
            left = rest
        return order, levels


def _reaches(edges: Mapping[int, Iterable[int]], src: int, dst: int) -> bool:
    if src == dst:
        return True
    seen = {src}
    stack = [src]
    while stack:
        for n in edges.get(stack.pop(), ()):
            if n == dst:
                return True
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return False


class _CoverSearch:
    """Exact minimum-cost cover of the goal needs (see the module docstring)."""

    def __init__(self, pb: _Problem) -> None:
        self.pb = pb
        self.best_obj = math.inf
        self.best: frozenset[int] | None = None
        self.nodes = 0
        self.aborted = False
        self.seen: set[tuple[frozenset[int], frozenset[tuple[Need, int]]]] = set()

    def run(self) -> frozenset[int] | None:
        self._dfs(frozenset(), {}, {}, 0.0, 0.0)
        return self.best

    def _add(
        self,
        chosen: frozenset[int],
        assign: dict[Need, int],
        edges: dict[int, set[int]],
        course: int,
    ) -> tuple[frozenset[int], dict[int, set[int]]] | None:
        """Add ``course`` (and its prerequisites); None if that makes a dependency cycle."""
        if course in chosen:
            return chosen, edges
        chosen = chosen | {course}
        edges = {k: set(v) for k, v in edges.items()}
        c = self.pb.cands[course]
        deps = [*c.prereqs, *(assign[n] for n in c.entry if n in assign)]
        for d in deps:
            if _reaches(edges, d, course):
                return None
            edges.setdefault(course, set()).add(d)
        for p in c.prereqs:
            got = self._add(chosen, assign, edges, p)
            if got is None:
                return None
            chosen, edges = got
        return chosen, edges

    def _pending(self, chosen: frozenset[int], assign: dict[Need, int]) -> list[tuple[Need, bool]]:
        """Open needs: (need, is_entry)."""
        out: list[tuple[Need, bool]] = []
        for g in self.pb.goals:
            if not any(i in chosen for i in self.pb.provs(g)):
                out.append((g, False))
        entry: set[Need] = set()
        for i in chosen:
            for n in self.pb.cands[i].entry:
                if n not in assign:
                    entry.add(n)
        out.extend((n, True) for n in sorted(entry))
        return out

    def _bound(self, chosen: frozenset[int], pending: list[tuple[Need, bool]]) -> float:
        cands = self.pb.cands
        serves: dict[int, int] = {}
        options: list[list[int]] = []
        for need, is_entry in pending:
            provs = self.pb.entry_provs(need) if is_entry else self.pb.provs(need)
            if is_entry and any(i in chosen for i in provs):
                options.append([])
                continue
            outside = [i for i in provs if i not in chosen]
            if not outside:
                return math.inf
            options.append(outside)
            for i in outside:
                serves[i] = serves.get(i, 0) + 1
        total = biggest = 0.0
        for outside in options:
            if not outside:
                continue
            total += min(cands[i].obj / serves[i] for i in outside)
            biggest = max(biggest, min(cands[i].obj for i in outside))
        return max(total, biggest)

    def _dfs(
        self,
        chosen: frozenset[int],
        assign: dict[Need, int],
        edges: dict[int, set[int]],
        obj: float,
        hours: float,
    ) -> None:
        self.nodes += 1
        if self.nodes > self.pb.node_limit:
            self.aborted = True
            return
        key = (chosen, frozenset(assign.items()))
        if key in self.seen:
            return
        self.seen.add(key)
        if self.pb.budget is not None and hours > self.pb.budget + EPS:
            return
        pending = self._pending(chosen, assign)
        if not pending:
            if obj < self.best_obj - EPS:
                self.best_obj, self.best = obj, chosen
            return
        if obj + self._bound(chosen, pending) >= self.best_obj - EPS:
            return

        def options(p: tuple[Need, bool]) -> list[int]:
            return self.pb.entry_provs(p[0]) if p[1] else self.pb.provs(p[0])

        need, is_entry = min(pending, key=lambda p: (len(options(p)), not p[1], p[0]))
        provs = options((need, is_entry))
        for p in sorted(provs, key=lambda i: (i not in chosen, self.pb.cands[i].obj)):
            if not is_entry and p in chosen:
                continue
            new_assign = dict(assign)
            new_edges = {k: set(v) for k, v in edges.items()}
            if is_entry:
                new_assign[need] = p
                cycle = False
                for i in chosen:
                    if need in self.pb.cands[i].entry:
                        if _reaches(new_edges, p, i):
                            cycle = True
                            break
                        new_edges.setdefault(i, set()).add(p)
                if cycle:
                    continue
            got = self._add(chosen, new_assign, new_edges, p)
            if got is None:
                continue
            new_chosen, new_edges = got
            added = new_chosen - chosen
            self._dfs(
                new_chosen,
                new_assign,
                new_edges,
                obj + sum(self.pb.cands[i].obj for i in added),
                hours + sum(self.pb.cands[i].hours for i in added),
            )
            if self.aborted:
                return


def _parts(pb: _Problem) -> list[tuple[list[int], list[Need]]]:
    """Independent parts: candidates linked by a shared skill or a prerequisite, with goals."""
    parent = list(range(len(pb.cands)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, c in enumerate(pb.cands):
        for s, _, _ in c.teaches:
            if s in first:
                parent[find(i)] = find(first[s])
            else:
                first[s] = i
        for p in c.prereqs:
            parent[find(i)] = find(p)
    members: dict[int, list[int]] = {}
    for i in range(len(pb.cands)):
        members.setdefault(find(i), []).append(i)
    goals: dict[int, list[Need]] = {}
    for g in pb.goals:
        goals.setdefault(find(first[g[0]]), []).append(g)
    return [(members[r], goals[r]) for r in sorted(goals)]


def _reverse_delete(pb: _Problem, pool: list[int]) -> list[int]:
    """A feasible cover of ``pb.goals`` from ``pool``: all usable, then drop what is not needed."""
    order, _ = pb.fixpoint(pool)
    keep = list(order)
    for i in sorted(order, key=lambda i: -pb.cands[i].obj):
        trial = [j for j in keep if j != i]
        done, levels = pb.fixpoint(trial)
        if len(done) == len(trial) and all(levels.get(s, 0.0) >= t - EPS for s, t in pb.goals):
            keep = trial
    return keep


def _cover_milp(
    pb: _Problem, rounds: int = 30, time_limit: float | None = None
) -> list[int] | None:
    """Exact minimum-cost cover by MILP (HiGHS), for parts too large for the search.

    Starting levels are modelled as "some chosen course provides them"; a solution whose
    courses cannot all be ordered (a cycle) is cut off and the MILP solved again. Returns None
    when no proven optimum is reached in ``rounds``.
    """
    import highspy  # local: only large parts need it

    n = len(pb.cands)
    rows: list[tuple[list[int], list[float], float]] = []  # (cols, coefs, lower bound)
    for g in pb.goals:
        rows.append((pb.provs(g), [1.0] * len(pb.provs(g)), 1.0))
    for i, c in enumerate(pb.cands):
        for p in c.prereqs:
            rows.append(([p, i], [1.0, -1.0], 0.0))
        for need in c.entry:
            provs = [p for p in pb.entry_provs(need) if p != i]
            rows.append(([*provs, i], [1.0] * len(provs) + [-1.0], 0.0))
    for _ in range(rounds):
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 0.0)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        inf = highspy.kHighsInf
        for _ in pb.cands:
            h.addVar(0.0, 1.0)
        h.changeColsCost(
            n, np.arange(n, dtype=np.int32), np.asarray([c.obj for c in pb.cands], dtype=np.float64)
        )
        h.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.asarray([highspy.HighsVarType.kInteger] * n)
        )
        for cols, coefs, lo in rows:
            h.addRow(
                lo,
                inf,
                len(cols),
                np.asarray(cols, dtype=np.int32),
                np.asarray(coefs, dtype=np.float64),
            )
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        chosen = [i for i, v in enumerate(h.getSolution().col_value) if v > 0.5]
        order, levels = pb.fixpoint(chosen)
        if len(order) == len(chosen):
            return chosen
        stuck = [i for i in chosen if i not in set(order)]
        outside = sorted(
            {
                p
                for i in stuck
                for need in pb.cands[i].entry
                if levels.get(need[0], 0.0) < need[1] - EPS
                for p in pb.entry_provs(need)
                if p not in chosen
            }
        )
        rows.append(
            (
                [*stuck, *outside],
                [-1.0] * len(stuck) + [1.0] * len(outside),
                1.0 - len(stuck),
            )
        )
    return None


Cost = tuple[float, float]
"""(objective, hours): compared lexicographically, so ties in the objective go to fewer hours."""

MAX_SPECIAL = 4
"""Most special courses (multi-skill, with or serving as prerequisites) a part may have for the
ladder method; it enumerates their ordered subsets."""


def _add_cost(a: Cost, b: Cost) -> Cost:
    return (a[0] + b[0], a[1] + b[1])


def _better(a: Cost, b: Cost) -> bool:
    """Whether ``a`` is strictly cheaper than ``b`` (objective first, then hours)."""
    if a[0] < b[0] - EPS:
        return True
    return abs(a[0] - b[0]) <= EPS and a[1] < b[1] - EPS


class _LadderCover:
    """Exact minimum-cost cover of one part by shortest paths on skill ladders.

    Courses that teach one skill and neither have nor serve as prerequisites ("simple") form a
    ladder per skill: from a level, any simple course starting at or below it leads to its
    resulting level. The other ("special") courses are few in a part; for every subset of them
    closed under prerequisites and every order respecting prerequisites, each skill's ladder is
    solved as a shortest path that must pass each special course's starting level before that
    course (which then lifts the level for free, its cost counted once). Simple courses of
    different skills never interact, so the per-skill paths interleave into one schedule; the
    cheapest combination is therefore optimal among all plans.
    """

    def __init__(self, pb: _Problem) -> None:
        self.pb = pb
        cands = pb.cands
        serving = {p for c in cands for p in c.prereqs}
        self.special = [
            i for i, c in enumerate(cands) if len(c.teaches) != 1 or c.prereqs or i in serving
        ]
        special = set(self.special)
        self.simple: dict[str, list[int]] = {}
        for i, c in enumerate(cands):
            if i not in special:
                self.simple.setdefault(c.teaches[0][0], []).append(i)
        self.goal = dict(pb.goals)
        self.skills = sorted({s for c in cands for s, _, _ in c.teaches} | set(self.goal))
        self.cache: dict[
            tuple[str, tuple[tuple[float, float], ...]], tuple[Cost, list[int]] | None
        ] = {}

    def applicable(self, max_special: int = MAX_SPECIAL) -> bool:
        """Whether the part has few enough special courses to enumerate."""
        return len(self.special) <= max_special

    def components(self) -> list[list[int]]:
        """Special courses grouped by shared skills and prerequisites (independent groups)."""
        cands = self.pb.cands
        parent = {i: i for i in self.special}

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first: dict[str, int] = {}
        for i in self.special:
            for s, _, _ in cands[i].teaches:
                if s in first:
                    parent[find(i)] = find(first[s])
                else:
                    first[s] = i
            for p in cands[i].prereqs:
                parent[find(i)] = find(p)
        groups: dict[int, list[int]] = {}
        for i in self.special:
            groups.setdefault(find(i), []).append(i)
        return list(groups.values())

    def run_all(self, max_special: int = MAX_SPECIAL) -> list[int] | None:
        """The cheapest cover of the whole problem, or None when a group is too large.

        Skills no special course teaches are solved on their ladder alone; each group of
        special courses (see :meth:`components`) with the skills it teaches is enumerated.
        """
        comps = self.components()
        if any(len(c) > max_special for c in comps):
            return None
        cands = self.pb.cands
        picks: list[int] = []
        grouped: set[str] = set()
        for comp in comps:
            skills = sorted({s for i in comp for s, _, _ in cands[i].teaches})
            grouped.update(skills)
            got = self._enumerate(comp, skills)
            if got is None:
                return None
            picks.extend(got)
        for s in self.skills:
            if s not in grouped:
                ladder = self._ladder(s, ())
                if ladder is None:
                    if s in self.goal:
                        return None
                    continue
                picks.extend(ladder[1])
        return picks

    def _ladder(
        self, skill: str, milestones: tuple[tuple[float, float], ...]
    ) -> tuple[Cost, list[int]] | None:
        """Cheapest simple courses of ``skill`` passing ``milestones`` and reaching its goal."""
        key = (skill, milestones)
        if key in self.cache:
            return self.cache[key]
        cands = self.pb.cands
        simple = self.simple.get(skill, [])
        goal = self.goal.get(skill)
        m = len(milestones)
        start = self.pb.start.get(skill, 0.0)
        best: dict[tuple[float, int], Cost] = {(start, 0): (0.0, 0.0)}
        back: dict[tuple[float, int], tuple[tuple[float, int], int | None]] = {}
        heap: list[tuple[float, float, float, int]] = [(0.0, 0.0, start, 0)]
        found: tuple[Cost, list[int]] | None = None
        while heap:
            o, h, level, k = heapq.heappop(heap)
            state = (level, k)
            if _better(best[state], (o, h)):
                continue
            if k == m and (goal is None or level >= goal - EPS):
                path: list[int] = []
                while state in back:
                    state, course = back[state]
                    if course is not None:
                        path.append(course)
                found = ((o, h), path[::-1])
                break
            steps: list[tuple[float, int, Cost, int | None]] = []
            if k < m and level >= milestones[k][0] - EPS:
                steps.append((max(level, milestones[k][1]), k + 1, (o, h), None))
            for i in simple:
                _, f, to = cands[i].teaches[0]
                if f <= level + EPS and to > level + EPS:
                    steps.append((to, k, (o + cands[i].obj, h + cands[i].hours), i))
            for to, nk, cost, course in steps:
                nxt = (to, nk)
                held = best.get(nxt)
                if held is None or _better(cost, held):
                    best[nxt] = cost
                    back[nxt] = (state, course)
                    heapq.heappush(heap, (cost[0], cost[1], to, nk))
        self.cache[key] = found
        return found

    def _orders(self, subset: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        """Orders of ``subset`` in which every prerequisite comes before its course."""
        cands = self.pb.cands
        for order in itertools.permutations(subset):
            pos = {i: n for n, i in enumerate(order)}
            if all(pos[p] < pos[i] for i in order for p in cands[i].prereqs):
                yield order

    def _related_orders(self, subset: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        """Orders of ``subset`` that differ where it matters: among courses sharing a skill."""
        cands = self.pb.cands
        shared = any(
            {s for s, _, _ in cands[a].teaches} & {s for s, _, _ in cands[b].teaches}
            or a in cands[b].prereqs
            or b in cands[a].prereqs
            for a, b in itertools.combinations(subset, 2)
        )
        if not shared:
            yield subset
            return
        touched = sorted({s for i in subset for s, _, _ in cands[i].teaches})
        seen: set[tuple[tuple[str, tuple[int, ...]], ...]] = set()
        for order in self._orders(subset):
            sig = tuple(
                (s, tuple(i for i in order if any(sk == s for sk, _, _ in cands[i].teaches)))
                for s in touched
            )
            if sig not in seen:
                seen.add(sig)
                yield order

    def run(self) -> list[int] | None:
        """The cheapest cover, or None when the goals cannot all be reached."""
        return self._enumerate(self.special, self.skills)

    def _enumerate(self, special: list[int], skills: list[str]) -> list[int] | None:
        """Cheapest choice of ``special`` courses plus ladders of ``skills`` reaching goals."""
        cands = self.pb.cands
        base: dict[str, Cost] = {}
        for s in skills:
            got = self._ladder(s, ())
            base[s] = got[0] if got is not None else (math.inf, math.inf)
        subsets: list[tuple[Cost, tuple[int, ...]]] = []
        for r in range(len(special) + 1):
            for subset in itertools.combinations(special, r):
                members = set(subset)
                if any(p not in members for i in subset for p in cands[i].prereqs):
                    continue
                cost = (
                    sum(cands[i].obj for i in subset),
                    sum(cands[i].hours for i in subset),
                )
                subsets.append((cost, subset))
        subsets.sort()
        best: Cost = (math.inf, math.inf)
        chosen: list[int] | None = None
        for cost, subset in subsets:
            if not _better(cost, best):
                break
            touched = {s for i in subset for s, _, _ in cands[i].teaches}
            bound = cost
            for s in skills:
                if s not in touched:
                    bound = _add_cost(bound, base[s])
            if not _better(bound, best):
                continue
            for order in self._related_orders(subset):
                total = bound  # untouched skills climb their ladders alone
                picks: list[int] = list(order)
                for s in sorted(touched):
                    milestones = tuple(
                        (f, to) for i in order for sk, f, to in cands[i].teaches if sk == s
                    )
                    got = self._ladder(s, milestones)
                    if got is None:
                        total = (math.inf, math.inf)
                        break
                    total = _add_cost(total, got[0])
                    picks.extend(got[1])
                    if not _better(total, best):
                        break
                if _better(total, best):
                    for s in skills:
                        if s not in touched:
                            picks.extend((self._ladder(s, ()) or ((0.0, 0.0), []))[1])
                if _better(total, best):
                    best, chosen = total, picks
        return chosen


def _cover_by_parts(pb: _Problem, method: Method = "auto") -> tuple[list[int], bool]:
    """Minimum-cost cover solved part by part (costs add up); returns courses and optimality.

    "auto" solves a part with few special courses exactly on its skill ladders, any other by
    the MILP, and only if that fails by the search. "fast" does the same with the MILP limited to
    :data:`FAST_MILP_SECONDS` and the search to :data:`FAST_NODE_LIMIT` nodes (not proven
    optimal when cut). "exact" is the reference: the search, then the MILP if it gives up.
    """
    if method != "exact":
        whole = _LadderCover(pb).run_all()
        if whole is not None:
            return sorted(set(whole)), True
    chosen: list[int] = []
    optimal = True
    for members, goals in _parts(pb):
        pos = {old: new for new, old in enumerate(members)}
        sub = _Problem(
            cands=[
                replace(pb.cands[i], prereqs=[pos[p] for p in pb.cands[i].prereqs]) for i in members
            ],
            start=pb.start,
            goals=sorted(goals),
            budget=None,
            node_limit=pb.node_limit,
        )
        found: frozenset[int] | None = None
        if method != "exact":
            ladder = _LadderCover(sub)
            if ladder.applicable():
                cover = ladder.run()
                if cover is not None:
                    chosen.extend(members[i] for i in sorted(set(cover)))
                    continue
        if method != "exact":
            milp = _cover_milp(sub, time_limit=FAST_MILP_SECONDS if method == "fast" else None)
            if milp is not None:
                chosen.extend(members[i] for i in sorted(milp))
                continue
        if method == "fast":
            sub.node_limit = min(sub.node_limit, FAST_NODE_LIMIT)
        search = _CoverSearch(sub)
        found = search.run()
        if search.aborted and method != "exact":
            optimal = False
        elif search.aborted:
            milp = _cover_milp(sub)
            if milp is not None:
                found = frozenset(milp)
            else:
                optimal = False
        if found is None:
            found = frozenset(_reverse_delete(sub, list(range(len(sub.cands)))))
        got = sorted(found)
        chosen.extend(members[i] for i in got)
    return sorted(chosen), optimal


def _closure_value(
    levels: Mapping[str, float], gaps: Sequence[Gap], start: Mapping[str, float]
) -> float:
    total = 0.0
    for g in gaps:
        before = start.get(g.skill_id, g.current)
        after = min(g.target, levels.get(g.skill_id, before))
        if after > before:
            total += g.weight * (after - before)
    return total


class _BudgetSearch:
    """Exact maximum weighted gap closure within an hours budget (branch and bound)."""

    def __init__(self, pb: _Problem, gaps: Sequence[Gap]) -> None:
        self.pb = pb
        self.gaps = gaps
        budget = pb.budget if pb.budget is not None else math.inf
        self.budget = budget
        idx = [i for i, c in enumerate(pb.cands) if c.hours <= budget + EPS]
        solo = {i: self._relaxed_gain(pb.start, i) for i in idx}
        idx.sort(key=lambda i: (-solo[i] / max(pb.cands[i].hours, EPS), pb.cands[i].obj, i))
        self.order = idx
        self.best_val = 0.0
        self.best_obj = 0.0
        self.best: list[int] = []
        self.nodes = 0
        self.aborted = False

    def _relaxed_gain(self, levels: Mapping[str, float], i: int) -> float:
        gain = 0.0
        for s, _, to in self.pb.cands[i].teaches:
            for g in self.gaps:
                if g.skill_id == s:
                    now = min(g.target, levels.get(s, g.current))
                    if to > now:
                        gain += g.weight * (min(g.target, to) - now)
        return gain

    def run(self) -> list[int]:
        self._bb(0, [], 0.0, 0.0, dict(self.pb.start))
        return self.best

    def _bb(
        self, k: int, chosen: list[int], hours: float, obj: float, relaxed: dict[str, float]
    ) -> None:
        self.nodes += 1
        if self.nodes > self.pb.node_limit:
            self.aborted = True
            return
        if k == len(self.order):
            return
        rest = sorted(
            ((self._relaxed_gain(relaxed, i), self.pb.cands[i].hours) for i in self.order[k:]),
            key=lambda gh: -gh[0] / max(gh[1], EPS),
        )
        room = self.budget - hours
        bound = _closure_value(relaxed, self.gaps, self.pb.start)
        for gain, h in rest:
            if gain <= 0 or (room <= EPS and h > EPS):
                continue
            take = 1.0 if h <= room + EPS else room / h
            bound += gain * take
            room -= h * take
        if bound < self.best_val - EPS or (bound <= self.best_val + EPS and obj >= self.best_obj):
            return
        i = self.order[k]
        c = self.pb.cands[i]
        if hours + c.hours <= self.budget + EPS:
            new = [*chosen, i]
            order, levels = self.pb.fixpoint(new)
            if len(order) == len(new):
                val = _closure_value(levels, self.gaps, self.pb.start)
                new_obj = obj + c.obj
                if val > self.best_val + EPS or (
                    val >= self.best_val - EPS and new_obj < self.best_obj - EPS
                ):
                    self.best_val, self.best_obj, self.best = val, new_obj, new
            new_relaxed = dict(relaxed)
            for s, _, to in c.teaches:
                if to > new_relaxed.get(s, 0.0):
                    new_relaxed[s] = to
            self._bb(k + 1, new, hours + c.hours, obj + c.obj, new_relaxed)
            if self.aborted:
                return
        self._bb(k + 1, chosen, hours, obj, relaxed)


def _candidates(
    index: CatalogIndex,
    start: Mapping[str, float],
    gap_skills: set[str],
    taken: set[str],
    minimise: str,
) -> tuple[list[_Cand], dict[str, float]]:
    """Courses that advance a gap skill, plus those needed to start them, transitively.

    Also returns the highest level each skill reaches with every candidate taken.
    """
    wanted: dict[str, Course] = {}
    queue: list[Course] = []
    for s in gap_skills:
        level = start.get(s, 0.0) + EPS
        for c, to in index.reaching(s):
            if to <= level:
                break
            if c.id not in taken and c.id not in wanted:
                wanted[c.id] = c
                queue.append(c)
    while queue:
        c = queue.pop()
        for p in c.prerequisites:
            pc = index.courses.get(p)
            if p not in taken and pc is not None and p not in wanted:
                wanted[p] = pc
                queue.append(pc)
        for t in c.teaches:
            if t.from_level > start.get(t.skill_id, 0.0) + EPS:
                for pc, to in index.reaching(t.skill_id):
                    if to < t.from_level - EPS:
                        break
                    if pc.id not in taken and pc.id not in wanted:
                        wanted[pc.id] = pc
                        queue.append(pc)
    # Drop courses whose prerequisites can never be met, until stable.
    alive = set(wanted)
    changed = True
    while changed:
        changed = False
        for cid in list(alive):
            if any(p not in taken and p not in alive for p in wanted[cid].prerequisites):
                alive.discard(cid)
                changed = True
    doms = index.dominators(minimise)
    alive = {cid for cid in alive if not any(d in alive for d in doms.get(cid, ()))}
    # Drop courses that could never start, even with every other candidate taken.
    reach = dict(start)
    usable: set[str] = set()
    pending = sorted(alive, key=lambda cid: (index.entry_level(cid), cid))
    progress = True
    while progress:
        progress = False
        rest: list[str] = []
        for cid in pending:
            c = wanted[cid]
            if all(p in taken or p in usable for p in c.prerequisites) and all(
                reach.get(t.skill_id, 0.0) >= t.from_level - EPS for t in c.teaches
            ):
                usable.add(cid)
                progress = True
                for t in c.teaches:
                    if t.to_level > reach.get(t.skill_id, 0.0):
                        reach[t.skill_id] = t.to_level
            else:
                rest.append(cid)
        pending = rest
    ids = sorted(usable)
    pos = {cid: i for i, cid in enumerate(ids)}
    cands: list[_Cand] = []
    for cid in ids:
        c = wanted[cid]
        cands.append(
            _Cand(
                course=c,
                obj=c.hours if minimise == "hours" else c.cost,
                hours=c.hours,
                teaches=[(t.skill_id, t.from_level, t.to_level) for t in c.teaches],
                prereqs=sorted({pos[p] for p in c.prerequisites if p not in taken})
                if c.prerequisites
                else [],
                entry=sorted(
                    {
                        (t.skill_id, t.from_level)
                        for t in c.teaches
                        if t.from_level > start.get(t.skill_id, 0.0) + EPS
                    }
                ),
            )
        )
    return cands, reach


def _why_uncoverable(
    g: Gap, index: CatalogIndex, reachable: float, taken: set[str], completed: set[str]
) -> str:
    teaching = index.by_skill.get(g.skill_id, [])
    if not teaching:
        return f"no course in the catalog teaches {g.skill_name}"
    top = max(t.to_level for c in teaching for t in c.teaches if t.skill_id == g.skill_id)
    if top < g.target - EPS:
        return (
            f"the catalog teaches {g.skill_name} only up to {format_level(top)}, "
            f"target {format_level(g.target)}"
        )
    reaching = [
        c
        for c in teaching
        if any(t.skill_id == g.skill_id and t.to_level >= g.target - EPS for t in c.teaches)
    ]
    if all(c.id in taken for c in reaching):
        done = ", ".join(sorted(c.id for c in reaching))
        state = "completed" if all(c.id in completed for c in reaching) else "taken"
        return (
            f"the courses reaching {g.skill_name} {format_level(g.target)} ({done}) are "
            f"already {state}; the assessment still shows {format_level(g.current)}"
        )
    return (
        f"the courses reaching {g.skill_name} {format_level(g.target)} cannot be started: "
        f"their prerequisites or starting levels are out of reach (best reachable "
        f"{format_level(reachable)})"
    )


def _reason_parts(
    i: int,
    before: Mapping[str, float],
    pb: _Problem,
    gaps_by_skill: Mapping[str, Gap],
) -> tuple[list[str], list[str], float]:
    parts: list[str] = []
    closes: list[str] = []
    value = 0.0
    for s, _, to in pb.cands[i].teaches:
        g = gaps_by_skill.get(s)
        if g is None:
            continue
        lo = before.get(s, g.current)
        hi = min(to, max(g.target, lo))
        if to > lo + EPS and lo < g.target - EPS:
            closes.append(s)
            parts.append(f"{g.skill_name} {format_level(lo)}→{format_level(hi)} {g.purpose()}")
            value += g.weight * (hi - lo)
    return parts, closes, value


def _plan_items(
    chosen: Sequence[int], pb: _Problem, gaps_by_skill: Mapping[str, Gap]
) -> tuple[list[PlanItem], dict[str, float]]:
    order, levels_end = pb.fixpoint(chosen)
    levels = dict(pb.start)
    items: list[PlanItem] = []
    for i in order:
        c = pb.cands[i]
        parts, closes, value = _reason_parts(i, levels, pb, gaps_by_skill)
        deps = {pb.cands[p].course.id for p in c.prereqs}
        for s, f in c.entry:
            first = next(
                (
                    j
                    for j in order
                    if any(sk == s and to >= f - EPS for sk, _, to in pb.cands[j].teaches)
                ),
                None,
            )
            if first is not None and first != i:
                deps.add(pb.cands[first].course.id)
        if not parts:
            users = [
                pb.cands[j].course.title
                for j in order
                if j != i
                and (
                    i in pb.cands[j].prereqs
                    or any(
                        any(s == es and to >= ef - EPS for s, _, to in c.teaches)
                        for es, ef in pb.cands[j].entry
                    )
                )
            ]
            parts.append(
                "prerequisite or starting level for " + ", ".join(users)
                if users
                else "supports the plan"
            )
        items.append(
            PlanItem(
                course_id=c.course.id,
                title=c.course.title,
                hours=c.course.hours,
                cost=c.course.cost,
                closes=tuple(closes),
                reason="; ".join(parts),
                value=value,
                depends_on=tuple(sorted(deps)),
            )
        )
        for s, _, to in c.teaches:
            if to > levels.get(s, 0.0):
                levels[s] = to
    return items, levels_end


def choose_courses(
    gaps: Sequence[Gap],
    catalog: Sequence[Course] | CatalogIndex,
    *,
    assessed: Mapping[str, float] | None = None,
    completed: set[str] | frozenset[str] = frozenset(),
    enrolled: set[str] | frozenset[str] = frozenset(),
    minimise: Literal["hours", "cost"] = "hours",
    hours_budget: float | None = None,
    node_limit: int = DEFAULT_NODE_LIMIT,
    method: Method = "auto",
) -> Plan:
    """Choose the courses that close an employee's gaps at minimum total hours (or cost).

    Courses already completed or enrolled are never chosen again; enrolled courses count as
    taken (their levels and prerequisites are credited). Every gap the catalog cannot close is
    reported in ``uncoverable`` with the reason. With ``hours_budget``, if closing every
    coverable gap does not fit, the plan maximises weighted gap closure (weight x levels
    closed) within the budget and lists what stays open in ``deferred``.

    Args:
        gaps: The employee's gaps (from ``compute_gaps``).
        catalog: The courses, or a prebuilt :class:`CatalogIndex` (faster when reused).
        assessed: Current levels per skill id, for starting levels of non-gap skills; gap
            skills default to the gap's current level.
        completed: Course ids already completed.
        enrolled: Course ids already enrolled in.
        minimise: "hours" or "cost".
        hours_budget: Maximum total hours of the chosen courses.
        node_limit: Search nodes before settling for the best plan found so far.
        method: "auto" (default: exact, fast on ladder-shaped catalogs), "fast" (never slow,
            ``optimal=False`` when it could not prove the optimum) or "exact" (the reference
            search, no ladder shortcut).

    Returns:
        The plan: ordered items with reasons, uncoverable and deferred gaps, totals.

    """
    index = catalog if isinstance(catalog, CatalogIndex) else CatalogIndex(catalog)
    taken = set(completed) | set(enrolled)
    start: dict[str, float] = dict(assessed or {})
    for g in gaps:
        start.setdefault(g.skill_id, g.current)
    for cid in sorted(enrolled):
        c = index.courses.get(cid)
        for t in c.teaches if c is not None else ():
            if t.to_level > start.get(t.skill_id, 0.0):
                start[t.skill_id] = t.to_level

    gaps_by_skill: dict[str, Gap] = {}
    for g in gaps:
        held = gaps_by_skill.get(g.skill_id)
        if held is None or g.target > held.target:
            gaps_by_skill[g.skill_id] = g
    by_enrolled = sorted(
        s
        for s, g in gaps_by_skill.items()
        if start.get(s, g.current) >= g.target - EPS and g.current < g.target - EPS
    )
    open_gaps = {s: g for s, g in gaps_by_skill.items() if start.get(s, g.current) < g.target - EPS}

    cands, reach = _candidates(index, start, set(open_gaps), taken, minimise)
    pb = _Problem(cands=cands, start=start, goals=[], budget=hours_budget, node_limit=node_limit)
    coverable = {s for s, g in open_gaps.items() if reach.get(s, 0.0) >= g.target - EPS}
    uncoverable = tuple(
        UncoverableGap(
            gap=g,
            reason=_why_uncoverable(g, index, reach.get(s, start[s]), taken, set(completed)),
            reachable=reach.get(s, start[s]),
        )
        for s, g in sorted(open_gaps.items(), key=lambda kv: (-kv[1].weighted_size, kv[0]))
        if s not in coverable
    )
    pb.goals = sorted((s, open_gaps[s].target) for s in coverable)

    binding = False
    found, optimal = _cover_by_parts(pb, method)
    chosen: list[int] = found
    if hours_budget is not None and sum(cands[i].hours for i in found) > hours_budget + EPS:
        got: frozenset[int] | None = None
        cover = _CoverSearch(pb)
        if minimise == "cost":  # a costlier cover may still fit the hours budget
            got = cover.run()
        if got is not None:
            chosen, optimal = sorted(got), not cover.aborted
        else:
            binding = True
            partial = _BudgetSearch(pb, list(open_gaps.values()))
            chosen = partial.run()
            optimal = not partial.aborted and not cover.aborted

    items, levels = _plan_items(chosen, pb, gaps_by_skill)
    deferred = tuple(
        UncoverableGap(
            gap=open_gaps[s],
            reason=(
                f"hours budget {format_level(hours_budget or 0)} h reached: "
                f"{open_gaps[s].skill_name} reaches {format_level(levels.get(s, 0.0))} "
                f"of {format_level(open_gaps[s].target)}"
            ),
            reachable=levels.get(s, 0.0),
        )
        for s in sorted(coverable, key=lambda s: (-open_gaps[s].weighted_size, s))
        if levels.get(s, 0.0) < open_gaps[s].target - EPS
    )
    return Plan(
        items=tuple(items),
        uncoverable=uncoverable,
        deferred=deferred,
        covered_by_enrolled=tuple(by_enrolled),
        total_hours=sum(i.hours for i in items),
        total_cost=sum(i.cost for i in items),
        minimise=minimise,
        hours_budget=hours_budget,
        budget_binding=binding,
        optimal=optimal,
    )
