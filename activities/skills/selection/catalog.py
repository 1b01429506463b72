"""The catalog index: courses by id and by taught skill, with dominance between courses."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.skills import Course


class CatalogIndex:
    """A course catalog indexed for selection; build once, reuse for many employees."""

    def __init__(self, catalog: Iterable[Course]) -> None:
        """Index ``catalog`` by course id and by taught skill."""
        self.courses: dict[str, Course] = {c.id: c for c in catalog}
        self.by_skill: dict[str, list[Course]] = {}
        for course in self.courses.values():
            for taught in course.teaches:
                self.by_skill.setdefault(taught.skill_id, []).append(course)
        self._dominators: dict[str, dict[str, tuple[str, ...]]] = {}
        self._reaching: dict[str, list[tuple[Course, float]]] = {}
        for skill, courses in self.by_skill.items():
            pairs = [(c, t.to_level) for c in courses for t in c.teaches if t.skill_id == skill]
            pairs.sort(key=lambda pair: (-pair[1], pair[0].id))
            self._reaching[skill] = pairs
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
        def rank(c: Course) -> tuple[float, float]:
            return (c.hours, c.cost) if minimise == "hours" else (c.cost, c.hours)

        required = {p for c in self.courses.values() for p in c.prerequisites}
        out: dict[str, tuple[str, ...]] = {}
        for q in self.courses.values():
            if not q.teaches or q.id in required:
                continue
            q_to = {t.skill_id: t.to_level for t in q.teaches}
            q_from = {t.skill_id: t.from_level for t in q.teaches}
            q_prerequisites = set(q.prerequisites)
            q_rank = rank(q)
            dominating: list[str] = []
            for p in self.by_skill.get(q.teaches[0].skill_id, ()):
                if p.id == q.id:
                    continue
                p_rank = rank(p)
                if (
                    p_rank[0] > q_rank[0]
                    or p_rank[1] > q_rank[1]
                    or (p_rank == q_rank and p.id > q.id)
                ):
                    continue
                if q.id in p.prerequisites or not set(p.prerequisites) <= q_prerequisites:
                    continue
                p_to = {t.skill_id: t.to_level for t in p.teaches}
                if any(p_to.get(s, -1.0) < level for s, level in q_to.items()):
                    continue
                if any(
                    t.from_level > 0 and q_from.get(t.skill_id, -1.0) < t.from_level
                    for t in p.teaches
                ):
                    continue
                if (
                    p_rank == q_rank
                    and p_to == q_to
                    and {t.skill_id: t.from_level for t in p.teaches} == q_from
                    and p.id > q.id
                ):
                    continue
                dominating.append(p.id)
            if dominating:
                out[q.id] = tuple(dominating)
        return out
