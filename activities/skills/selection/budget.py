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
    teaches. Ties in closure go to the cheaper plan. After the problem's node limit it stops
    with the best plan found so far and sets ``aborted``.
    """

    def __init__(self, problem: Problem, gaps: Sequence[Gap]) -> None:
        self.problem = problem
        self.gaps = gaps
        budget = problem.hours_budget if problem.hours_budget is not None else math.inf
        self.budget = budget
        candidates = problem.candidates
        order = [i for i, c in enumerate(candidates) if c.hours <= budget + EPS]
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

    def run(self) -> list[int]:
        """The best plan found (candidate indices, in the order they were decided)."""
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
        if hours + c.hours <= self.budget + EPS:
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
