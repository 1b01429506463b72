"""The budget search: exact maximum weighted gap closure within an hours budget."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from activities.skills.selection.problem import EPS, Problem
from schemas.skills import Gap


def closure_value(
    levels: Mapping[str, float], gaps: Sequence[Gap], start_levels: Mapping[str, float]
) -> float:
    """Weighted gap closure of reaching ``levels`` from ``start_levels`` (weight x levels)."""
    total = 0.0
    for g in gaps:
        before = start_levels.get(g.skill_id, g.current)
        after = min(g.target, levels.get(g.skill_id, before))
        if after > before:
            total += g.weight * (after - before)
    return total


class BudgetSearch:
    """Exact maximum weighted gap closure within an hours budget (branch and bound).

    Candidates are decided in order of closure per hour; a node is pruned by the fractional
    knapsack bound over the rest, with levels relaxed to what every course taken so far
    teaches. Ties in closure go to the cheaper plan. A course is only taken when it fits
    with all its prerequisites (a course whose prerequisites can never fit is never tried).
    The search starts from a feasible greedy plan (:meth:`greedy`), so the plan it returns
    closes at least as much as that one, even when the node limit stops it (``aborted``).
    """

    def __init__(self, problem: Problem, gaps: Sequence[Gap]) -> None:
        self.problem = problem
        self.gaps = gaps
        budget = problem.hours_budget if problem.hours_budget is not None else math.inf
        self.budget = budget
        candidates = problem.candidates
        self.closure = [self._with_prerequisites(i) for i in range(len(candidates))]
        order = [
            i
            for i in range(len(candidates))
            if sum(candidates[j].hours for j in self.closure[i]) <= budget + EPS
        ]
        solo = {i: self._relaxed_gain(problem.start_levels, i) for i in order}
        order.sort(
            key=lambda i: (-solo[i] / max(candidates[i].hours, EPS), candidates[i].objective, i)
        )
        self.order = order
        self.best_value = 0.0
        self.best_objective = 0.0
        self.best: list[int] = []
        self.nodes = 0
        self.aborted = False

    def _with_prerequisites(self, i: int) -> frozenset[int]:
        """Candidate ``i`` and every candidate it requires, transitively."""
        seen = {i}
        stack = [i]
        while stack:
            for p in self.problem.candidates[stack.pop()].prerequisites:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return frozenset(seen)

    def greedy(self) -> list[int]:
        """A feasible plan, built greedily.

        Each step adds the course (with its prerequisites) that fits and adds the most
        closure per hour, until none adds any.
        """
        problem = self.problem
        chosen: list[int] = []
        hours = 0.0
        value = 0.0
        while True:
            best: tuple[float, float, list[int], float] | None = None
            for i in self.order:
                if i in chosen:
                    continue
                bundle = sorted(self.closure[i] - set(chosen))
                extra = sum(problem.candidates[j].hours for j in bundle)
                if hours + extra > self.budget + EPS:
                    continue
                taken = [*chosen, *bundle]
                order, levels = problem.schedule(taken)
                if len(order) != len(taken):
                    continue
                gain = closure_value(levels, self.gaps, problem.start_levels) - value
                if gain <= EPS:
                    continue
                rate = gain / max(extra, EPS)
                if best is None or rate > best[0] + EPS:
                    best = (rate, extra, bundle, gain)
            if best is None:
                return chosen
            _, extra, bundle, gain = best
            chosen += bundle
            hours += extra
            value += gain

    def run(self) -> list[int]:
        """The best plan found (candidate indices, in the order they were decided)."""
        seed = self.greedy()
        if seed:
            _, levels = self.problem.schedule(seed)
            self.best = seed
            self.best_value = closure_value(levels, self.gaps, self.problem.start_levels)
            self.best_objective = sum(self.problem.candidates[i].objective for i in seed)
        self._branch(0, [], 0.0, 0.0, dict(self.problem.start_levels))
        return self.best

    def _relaxed_gain(self, levels: Mapping[str, float], i: int) -> float:
        """Weighted closure candidate ``i`` adds to ``levels``, ignoring its starting levels."""
        gain = 0.0
        for s, _, to in self.problem.candidates[i].teaches:
            for g in self.gaps:
                if g.skill_id == s:
                    now = min(g.target, levels.get(s, g.current))
                    if to > now:
                        gain += g.weight * (min(g.target, to) - now)
        return gain

    def _branch(
        self,
        k: int,
        chosen: list[int],
        hours: float,
        objective: float,
        relaxed: dict[str, float],
    ) -> None:
        """Decide ``self.order[k]`` (take it, then leave it) after ``chosen``."""
        problem = self.problem
        self.nodes += 1
        if self.nodes > problem.node_limit:
            self.aborted = True
            return
        if k == len(self.order):
            return
        rest = sorted(
            ((self._relaxed_gain(relaxed, i), problem.candidates[i].hours) for i in self.order[k:]),
            key=lambda gain_hours: -gain_hours[0] / max(gain_hours[1], EPS),
        )
        room = self.budget - hours
        bound = closure_value(relaxed, self.gaps, problem.start_levels)
        for gain, h in rest:
            if gain <= 0 or (room <= EPS and h > EPS):
                continue
            take = 1.0 if h <= room + EPS else room / h
            bound += gain * take
            room -= h * take
        if bound < self.best_value - EPS or (
            bound <= self.best_value + EPS and objective >= self.best_objective
        ):
            return
        i = self.order[k]
        c = problem.candidates[i]
        needed = self.closure[i] - set(chosen) - set(self.order[k + 1 :]) - {i}
        # A prerequisite already decided against can never join this branch: skip taking i.
        extra = sum(problem.candidates[j].hours for j in self.closure[i] if j not in chosen)
        fits = hours + extra <= self.budget + EPS and not needed
        if fits:
            taken = [*chosen, i]
            order, levels = problem.schedule(taken)
            if len(order) == len(taken):
                value = closure_value(levels, self.gaps, problem.start_levels)
                taken_objective = objective + c.objective
                if value > self.best_value + EPS or (
                    value >= self.best_value - EPS and taken_objective < self.best_objective - EPS
                ):
                    self.best_value, self.best_objective, self.best = (
                        value,
                        taken_objective,
                        taken,
                    )
            taken_relaxed = dict(relaxed)
            for s, _, to in c.teaches:
                if to > taken_relaxed.get(s, 0.0):
                    taken_relaxed[s] = to
            self._branch(k + 1, taken, hours + c.hours, objective + c.objective, taken_relaxed)
            if self.aborted:
                return
        self._branch(k + 1, chosen, hours, objective, relaxed)
