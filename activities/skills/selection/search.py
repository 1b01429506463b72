"""The reference exact cover: a branch and bound over open needs and their providers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from activities.skills.selection.problem import EPS, Need, Problem

OpenNeed = tuple[Need, bool]
"""A need no chosen course meets yet, and whether it is a starting level (else a goal)."""


def _reaches(edges: Mapping[int, Iterable[int]], source: int, target: int) -> bool:
    """Whether ``target`` is ``source`` or can be reached from it along ``edges``."""
    if source == target:
        return True
    seen = {source}
    stack = [source]
    while stack:
        for n in edges.get(stack.pop(), ()):
            if n == target:
                return True
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return False


class CoverSearch:
    """Exact minimum-cost cover of the goal needs, by depth-first branch and bound.

    The search branches on an open need and on which course provides it (for a starting level:
    the first course to reach it), keeps the provider graph acyclic so an order exists, and
    prunes with a fractional-cover lower bound. After the problem's node limit it stops with
    the best cover found so far and sets ``aborted``. It honours the problem's hours budget.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.best_objective = math.inf
        self.best: frozenset[int] | None = None
        self.nodes = 0
        self.aborted = False
        self._seen: set[tuple[frozenset[int], frozenset[tuple[Need, int]]]] = set()

    def run(self) -> frozenset[int] | None:
        """The cheapest cover found (candidate indices), or None if none was found."""
        self._branch(frozenset(), {}, {}, 0.0, 0.0)
        return self.best

    def _add(
        self,
        chosen: frozenset[int],
        assigned: dict[Need, int],
        edges: dict[int, set[int]],
        course: int,
    ) -> tuple[frozenset[int], dict[int, set[int]]] | None:
        """Add ``course`` (and its prerequisites); None if that makes a dependency cycle."""
        if course in chosen:
            return chosen, edges
        chosen = chosen | {course}
        edges = {k: set(v) for k, v in edges.items()}
        c = self.problem.candidates[course]
        dependencies = [*c.prerequisites, *(assigned[n] for n in c.entry_needs if n in assigned)]
        for d in dependencies:
            if _reaches(edges, d, course):
                return None
            edges.setdefault(course, set()).add(d)
        for p in c.prerequisites:
            got = self._add(chosen, assigned, edges, p)
            if got is None:
                return None
            chosen, edges = got
        return chosen, edges

    def _open_needs(self, chosen: frozenset[int], assigned: dict[Need, int]) -> list[OpenNeed]:
        """Goals no chosen course meets, then starting levels no course is assigned to."""
        problem = self.problem
        out: list[OpenNeed] = []
        for goal in problem.goals:
            if not any(i in chosen for i in problem.providers(goal)):
                out.append((goal, False))
        entry: set[Need] = set()
        for i in chosen:
            for n in problem.candidates[i].entry_needs:
                if n not in assigned:
                    entry.add(n)
        out.extend((n, True) for n in sorted(entry))
        return out

    def _bound(self, chosen: frozenset[int], open_needs: list[OpenNeed]) -> float:
        """A lower bound on the cost still to add: a fractional cover of the open needs."""
        problem = self.problem
        candidates = problem.candidates
        serves: dict[int, int] = {}
        options: list[list[int]] = []
        for need, is_entry in open_needs:
            providers = problem.entry_providers(need) if is_entry else problem.providers(need)
            if is_entry and any(i in chosen for i in providers):
                options.append([])
                continue
            outside = [i for i in providers if i not in chosen]
            if not outside:
                return math.inf
            options.append(outside)
            for i in outside:
                serves[i] = serves.get(i, 0) + 1
        total = biggest = 0.0
        for outside in options:
            if not outside:
                continue
            total += min(candidates[i].objective / serves[i] for i in outside)
            biggest = max(biggest, min(candidates[i].objective for i in outside))
        return max(total, biggest)

    def _branch(
        self,
        chosen: frozenset[int],
        assigned: dict[Need, int],
        edges: dict[int, set[int]],
        objective: float,
        hours: float,
    ) -> None:
        problem = self.problem
        self.nodes += 1
        if self.nodes > problem.node_limit:
            self.aborted = True
            return
        key = (chosen, frozenset(assigned.items()))
        if key in self._seen:
            return
        self._seen.add(key)
        if problem.hours_budget is not None and hours > problem.hours_budget + EPS:
            return
        open_needs = self._open_needs(chosen, assigned)
        if not open_needs:
            if objective < self.best_objective - EPS:
                self.best_objective, self.best = objective, chosen
            return
        if objective + self._bound(chosen, open_needs) >= self.best_objective - EPS:
            return

        def options(open_need: OpenNeed) -> list[int]:
            need, is_entry = open_need
            return problem.entry_providers(need) if is_entry else problem.providers(need)

        need, is_entry = min(open_needs, key=lambda o: (len(options(o)), not o[1], o[0]))
        providers = options((need, is_entry))
        for p in sorted(
            providers, key=lambda i: (i not in chosen, problem.candidates[i].objective)
        ):
            if not is_entry and p in chosen:
                continue
            new_assigned = dict(assigned)
            new_edges = {k: set(v) for k, v in edges.items()}
            if is_entry:
                new_assigned[need] = p
                cycle = False
                for i in chosen:
                    if need in problem.candidates[i].entry_needs:
                        if _reaches(new_edges, p, i):
                            cycle = True
                            break
                        new_edges.setdefault(i, set()).add(p)
                if cycle:
                    continue
            got = self._add(chosen, new_assigned, new_edges, p)
            if got is None:
                continue
            new_chosen, new_edges = got
            added = new_chosen - chosen
            self._branch(
                new_chosen,
                new_assigned,
                new_edges,
                objective + sum(problem.candidates[i].objective for i in added),
                hours + sum(problem.candidates[i].hours for i in added),
            )
            if self.aborted:
                return
