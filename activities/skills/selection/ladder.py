"""The ladder cover: exact shortest paths on skill ladders, few special courses enumerated."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator

from activities.skills.selection.problem import EPS, Problem

Cost = tuple[float, float]
"""(objective, hours): compared lexicographically, so ties in the objective go to fewer hours."""

Milestones = tuple[tuple[float, float], ...]
"""(starting level, resulting level) of the special courses a ladder passes, in order."""

MAX_SPECIAL = 4
"""Most special courses (multi-skill, with or serving as prerequisites) a part may have for the
ladder method; it enumerates their ordered subsets."""


def add_cost(a: Cost, b: Cost) -> Cost:
    """The sum of two costs."""
    return (a[0] + b[0], a[1] + b[1])


def cheaper(a: Cost, b: Cost) -> bool:
    """Whether ``a`` is strictly cheaper than ``b`` (objective first, then hours)."""
    if a[0] < b[0] - EPS:
        return True
    return abs(a[0] - b[0]) <= EPS and a[1] < b[1] - EPS


class LadderCover:
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

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        candidates = problem.candidates
        serving = {p for c in candidates for p in c.prerequisites}
        self.special = [
            i
            for i, c in enumerate(candidates)
            if len(c.teaches) != 1 or c.prerequisites or i in serving
        ]
        special = set(self.special)
        self.simple: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            if i not in special:
                self.simple.setdefault(c.teaches[0][0], []).append(i)
        self.goal = dict(problem.goals)
        self.skills = sorted({s for c in candidates for s, _, _ in c.teaches} | set(self.goal))
        self._cache: dict[tuple[str, Milestones], tuple[Cost, list[int]] | None] = {}

    def applicable(self, max_special: int = MAX_SPECIAL) -> bool:
        """Whether the part has few enough special courses to enumerate."""
        return len(self.special) <= max_special

    def components(self) -> list[list[int]]:
        """Special courses grouped by shared skills and prerequisites (independent groups)."""
        linked, _ = self.problem.link(self.special)
        return list(linked.groups().values())

    def run_all(self, max_special: int = MAX_SPECIAL) -> list[int] | None:
        """The cheapest cover of the whole problem, or None when a group is too large.

        Skills no special course teaches are solved on their ladder alone; each group of
        special courses (see :meth:`components`) with the skills it teaches is enumerated.
        """
        groups = self.components()
        if any(len(group) > max_special for group in groups):
            return None
        candidates = self.problem.candidates
        picks: list[int] = []
        grouped: set[str] = set()
        for group in groups:
            skills = sorted({s for i in group for s, _, _ in candidates[i].teaches})
            grouped.update(skills)
            got = self._enumerate(group, skills)
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

    def run(self) -> list[int] | None:
        """The cheapest cover, or None when the goals cannot all be reached."""
        return self._enumerate(self.special, self.skills)

    def _ladder(self, skill: str, milestones: Milestones) -> tuple[Cost, list[int]] | None:
        """Cheapest simple courses of ``skill`` passing ``milestones`` and reaching its goal."""
        key = (skill, milestones)
        if key in self._cache:
            return self._cache[key]
        candidates = self.problem.candidates
        simple = self.simple.get(skill, [])
        goal = self.goal.get(skill)
        m = len(milestones)
        start = self.problem.start_levels.get(skill, 0.0)
        # A state is (level reached, milestones passed).
        best: dict[tuple[float, int], Cost] = {(start, 0): (0.0, 0.0)}
        back: dict[tuple[float, int], tuple[tuple[float, int], int | None]] = {}
        heap: list[tuple[float, float, float, int]] = [(0.0, 0.0, start, 0)]
        found: tuple[Cost, list[int]] | None = None
        while heap:
            objective, hours, level, passed = heapq.heappop(heap)
            state = (level, passed)
            if cheaper(best[state], (objective, hours)):
                continue
            if passed == m and (goal is None or level >= goal - EPS):
                path: list[int] = []
                while state in back:
                    state, course = back[state]
                    if course is not None:
                        path.append(course)
                found = ((objective, hours), path[::-1])
                break
            steps: list[tuple[float, int, Cost, int | None]] = []
            if passed < m and level >= milestones[passed][0] - EPS:
                steps.append(
                    (max(level, milestones[passed][1]), passed + 1, (objective, hours), None)
                )
            for i in simple:
                _, f, to = candidates[i].teaches[0]
                if f <= level + EPS and to > level + EPS:
                    cost = (objective + candidates[i].objective, hours + candidates[i].hours)
                    steps.append((to, passed, cost, i))
            for to, next_passed, cost, course in steps:
                nxt = (to, next_passed)
                held = best.get(nxt)
                if held is None or cheaper(cost, held):
                    best[nxt] = cost
                    back[nxt] = (state, course)
                    heapq.heappush(heap, (cost[0], cost[1], to, next_passed))
        self._cache[key] = found
        return found

    def _orders(self, subset: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        """Orders of ``subset`` in which every prerequisite comes before its course."""
        candidates = self.problem.candidates
        for order in itertools.permutations(subset):
            position = {i: n for n, i in enumerate(order)}
            if all(position[p] < position[i] for i in order for p in candidates[i].prerequisites):
                yield order

    def _related_orders(self, subset: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        """Orders of ``subset`` that differ where it matters: among courses sharing a skill."""
        candidates = self.problem.candidates
        shared = any(
            {s for s, _, _ in candidates[a].teaches} & {s for s, _, _ in candidates[b].teaches}
            or a in candidates[b].prerequisites
            or b in candidates[a].prerequisites
            for a, b in itertools.combinations(subset, 2)
        )
        if not shared:
            yield subset
            return
        touched = sorted({s for i in subset for s, _, _ in candidates[i].teaches})
        seen: set[tuple[tuple[str, tuple[int, ...]], ...]] = set()
        for order in self._orders(subset):
            signature = tuple(
                (s, tuple(i for i in order if any(sk == s for sk, _, _ in candidates[i].teaches)))
                for s in touched
            )
            if signature not in seen:
                seen.add(signature)
                yield order

    def _enumerate(self, special: list[int], skills: list[str]) -> list[int] | None:
        """Cheapest choice of ``special`` courses plus ladders of ``skills`` reaching goals."""
        candidates = self.problem.candidates
        alone: dict[str, Cost] = {}
        for s in skills:
            got = self._ladder(s, ())
            alone[s] = got[0] if got is not None else (math.inf, math.inf)
        subsets: list[tuple[Cost, tuple[int, ...]]] = []
        for r in range(len(special) + 1):
            for subset in itertools.combinations(special, r):
                members = set(subset)
                if any(p not in members for i in subset for p in candidates[i].prerequisites):
                    continue
                cost = (
                    sum(candidates[i].objective for i in subset),
                    sum(candidates[i].hours for i in subset),
                )
                subsets.append((cost, subset))
        subsets.sort()
        best: Cost = (math.inf, math.inf)
        chosen: list[int] | None = None
        for cost, subset in subsets:
            if not cheaper(cost, best):
                break
            touched = {s for i in subset for s, _, _ in candidates[i].teaches}
            bound = cost
            for s in skills:
                if s not in touched:
                    bound = add_cost(bound, alone[s])
            if not cheaper(bound, best):
                continue
            for order in self._related_orders(subset):
                total = bound  # untouched skills climb their ladders alone
                picks: list[int] = list(order)
                for s in sorted(touched):
                    milestones = tuple(
                        (f, to) for i in order for sk, f, to in candidates[i].teaches if sk == s
                    )
                    got = self._ladder(s, milestones)
                    if got is None:
                        total = (math.inf, math.inf)
                        break
                    total = add_cost(total, got[0])
                    picks.extend(got[1])
                    if not cheaper(total, best):
                        break
                if cheaper(total, best):
                    for s in skills:
                        if s not in touched:
                            picks.extend((self._ladder(s, ()) or ((0.0, 0.0), []))[1])
                if cheaper(total, best):
                    best, chosen = total, picks
        return chosen
