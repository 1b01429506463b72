"""The problem model: candidate courses, goal needs, their providers and feasible orders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from activities.skills.selection.unionfind import UnionFind
from schemas.skills import Course

EPS = 1e-9
"""Tolerance when comparing levels, hours and costs."""

Need = tuple[str, float]
"""A skill id and the level it must reach."""


@dataclass
class Candidate:
    """A course that may be chosen, with its prerequisites as candidate indices.

    Attributes:
        course: The catalog course.
        objective: What choosing it adds to the minimised quantity (its hours or its cost).
        hours: Its hours.
        teaches: (skill id, starting level, resulting level) for each skill it teaches.
        prerequisites: Indices of the candidates it requires (courses not already taken).
        entry_needs: Starting levels it needs above the learner's starting levels.

    """

    course: Course
    objective: float
    hours: float
    teaches: list[tuple[str, float, float]]
    prerequisites: list[int] = field(default_factory=list)
    entry_needs: list[Need] = field(default_factory=list)


@dataclass
class Problem:
    """One employee's selection problem: the candidates and the needs to cover with them.

    Attributes:
        candidates: The candidate courses; every other index refers to this list.
        start_levels: The learner's level per skill before any chosen course.
        goals: The needs every cover must reach, sorted.
        hours_budget: Most total hours of the chosen courses, if limited.
        node_limit: Search nodes before a search settles for the best it has found.

    """

    candidates: list[Candidate]
    start_levels: dict[str, float]
    goals: list[Need]
    hours_budget: float | None
    node_limit: int
    _providers: dict[Need, list[int]] = field(default_factory=dict, init=False, repr=False)
    _entry_providers: dict[Need, list[int]] = field(default_factory=dict, init=False, repr=False)

    def providers(self, need: Need) -> list[int]:
        """Candidates that bring skill ``need[0]`` to ``need[1]``, cheapest first."""
        got = self._providers.get(need)
        if got is None:
            skill, level = need
            got = [
                i
                for i, c in enumerate(self.candidates)
                if any(s == skill and to >= level - EPS for s, _, to in c.teaches)
            ]
            got.sort(key=lambda i: (self.candidates[i].objective, self.candidates[i].hours, i))
            self._providers[need] = got
        return got

    def entry_providers(self, need: Need) -> list[int]:
        """Courses that can be the first to bring skill ``need[0]`` to ``need[1]``.

        Such a course must start below that level in the skill (else it needs it itself).
        """
        got = self._entry_providers.get(need)
        if got is None:
            skill, level = need
            got = [
                i
                for i in self.providers(need)
                if all(f < level - EPS for s, f, _ in self.candidates[i].teaches if s == skill)
            ]
            self._entry_providers[need] = got
        return got

    def schedule(self, chosen: Iterable[int]) -> tuple[list[int], dict[str, float]]:
        """Courses of ``chosen`` that can be taken in some order, that order, and final levels."""
        levels = dict(self.start_levels)
        done: set[int] = set()
        order: list[int] = []
        left = sorted(chosen, key=lambda i: (self.candidates[i].objective, i))
        progress = True
        while progress and left:
            progress = False
            rest: list[int] = []
            for i in left:
                c = self.candidates[i]
                if all(p in done for p in c.prerequisites) and all(
                    levels.get(s, 0.0) >= f - EPS for s, f in c.entry_needs
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

    def link(self, members: Iterable[int]) -> tuple[UnionFind[int], dict[str, int]]:
        """Candidates of ``members`` joined when they share a skill or one requires the other.

        Every prerequisite of a member must be a member too.

        Returns:
            The union-find over ``members``, and the first member teaching each skill.

        """
        members = list(members)
        linked = UnionFind(members)
        first: dict[str, int] = {}
        for i in members:
            c = self.candidates[i]
            for s, _, _ in c.teaches:
                if s in first:
                    linked.union(i, first[s])
                else:
                    first[s] = i
            for p in c.prerequisites:
                linked.union(i, p)
        return linked, first
