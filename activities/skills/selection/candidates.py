"""The candidate courses for one employee: what advances a gap, and what that needs, pruned."""

from __future__ import annotations

from collections.abc import Mapping

from activities.skills.selection.catalog import CatalogIndex
from activities.skills.selection.problem import EPS, Candidate
from schemas.skills import Course


def find_candidates(
    index: CatalogIndex,
    start_levels: Mapping[str, float],
    gap_skills: set[str],
    taken: set[str],
    minimise: str,
) -> tuple[list[Candidate], dict[str, float]]:
    """Courses that advance a gap skill, plus those needed to start them, transitively.

    Courses already taken, courses whose prerequisites can never be met, dominated courses
    (see :meth:`CatalogIndex.dominators`) and courses that could never start are left out.

    Args:
        index: The catalog.
        start_levels: The learner's level per skill.
        gap_skills: The skills with an open gap.
        taken: Course ids completed or enrolled in.
        minimise: "hours" or "cost": what a candidate's objective is.

    Returns:
        The candidates (sorted by course id), and the highest level each skill reaches with
        every candidate taken.

    """
    wanted: dict[str, Course] = {}
    queue: list[Course] = []
    for s in gap_skills:
        level = start_levels.get(s, 0.0) + EPS
        for c, to in index.reaching(s):
            if to <= level:
                break
            if c.id not in taken and c.id not in wanted:
                wanted[c.id] = c
                queue.append(c)
    while queue:
        c = queue.pop()
        for p in c.prerequisites:
            prerequisite = index.courses.get(p)
            if p not in taken and prerequisite is not None and p not in wanted:
                wanted[p] = prerequisite
                queue.append(prerequisite)
        for t in c.teaches:
            if t.from_level > start_levels.get(t.skill_id, 0.0) + EPS:
                for provider, to in index.reaching(t.skill_id):
                    if to < t.from_level - EPS:
                        break
                    if provider.id not in taken and provider.id not in wanted:
                        wanted[provider.id] = provider
                        queue.append(provider)
    # Drop courses whose prerequisites can never be met, until stable.
    alive = set(wanted)
    changed = True
    while changed:
        changed = False
        for cid in list(alive):
            if any(p not in taken and p not in alive for p in wanted[cid].prerequisites):
                alive.discard(cid)
                changed = True
    dominators = index.dominators(minimise)
    alive = {cid for cid in alive if not any(d in alive for d in dominators.get(cid, ()))}
    # Drop courses that could never start, even with every other candidate taken.
    reach = dict(start_levels)
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
    position = {cid: i for i, cid in enumerate(ids)}
    candidates: list[Candidate] = []
    for cid in ids:
        c = wanted[cid]
        candidates.append(
            Candidate(
                course=c,
                objective=c.hours if minimise == "hours" else c.cost,
                hours=c.hours,
                teaches=[(t.skill_id, t.from_level, t.to_level) for t in c.teaches],
                prerequisites=sorted({position[p] for p in c.prerequisites if p not in taken})
                if c.prerequisites
                else [],
                entry_needs=sorted(
                    {
                        (t.skill_id, t.from_level)
                        for t in c.teaches
                        if t.from_level > start_levels.get(t.skill_id, 0.0) + EPS
                    }
                ),
            )
        )
    return candidates, reach
