"""Vectorised gaps for a whole population at once (numpy), equal to the per-employee path.

Called by the benchmarks today; the rollout preview (issue 20) and the decisions issue (18)
compute a population's gaps with it.

Employees who share a role and a department share their effective requirements, so those are
computed once per (role, department) group, as matrices over skills (target, weight, and
whether an objective set the target), with exactly the rules of
:func:`~activities.skills.gaps.effective_requirements`. Gaps then need one gather and a few
element-wise operations over an employees x skills matrix of assessed levels, in which NaN means
"no evidence". :meth:`PopulationGaps.gaps_for` turns one row back into the :class:`Gap` objects
:func:`~activities.skills.gaps.compute_gaps` would give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from activities.skills.gaps import DEFAULT_IMPORTANCE, LEVEL_TOLERANCE, active_objectives
from schemas.skills import EffectiveRequirement, Gap, Objective, ObjectiveSet, Role, Skill

__all__ = [
    "PopulationGaps",
    "RequirementMatrix",
    "population_gaps",
    "requirement_matrix",
]

FloatMatrix = NDArray[np.float64]
_EPS = LEVEL_TOLERANCE
_NO_DUE = date.max.toordinal()
_BLOCK = 8192  # rows per block: keeps the temporaries of one block in cache


@dataclass(frozen=True)
class RequirementMatrix:
    """Effective requirements of (role, department) groups, as groups x skills matrices.

    Attributes:
        skill_ids: Column order of every matrix.
        groups: Row order: (role, department) pairs.
        target: Required level; NaN where the group has no requirement for the skill.
        weight: Weight of the requirement (role importance or priority x importance).
        baseline: The role's own level for the skill (0 when the role does not require it).
        source: 0 where the role baseline sets the target, k > 0 where ``objectives[k - 1]`` does.
        objectives: The objectives in force, with the "<set>@v<version>" each came from.
        claim: k > 0 where ``objectives[k - 1]`` is the strongest objective asking for the
            skill (whichever requirement won the target), 0 where no objective asks for it.

    """

    skill_ids: tuple[str, ...]
    groups: tuple[tuple[Role, str | None], ...]
    target: FloatMatrix
    weight: FloatMatrix
    baseline: FloatMatrix
    source: NDArray[np.int32]
    objectives: tuple[tuple[Objective, str | None], ...]
    claim: NDArray[np.int32] | None = None

    @property
    def from_objective(self) -> NDArray[np.bool_]:
        """Where an objective (not the role baseline) sets the target."""
        return self.source > 0

    @property
    def claimed(self) -> NDArray[np.bool_]:
        """Where an objective asks for the skill (an unrated skill there is a gap)."""
        return self.claim > 0 if self.claim is not None else self.from_objective

    def requirement(self, group: int, column: int) -> EffectiveRequirement | None:
        """The requirement of ``group`` for skill column ``column``, as the plain path has it."""
        target = float(self.target[group, column])
        if np.isnan(target):
            return None
        role = self.groups[group][0]
        k = int(self.source[group, column])
        c = int(self.claim[group, column]) if self.claim is not None else k
        common = {
            "skill_id": self.skill_ids[column],
            "target": target,
            "weight": float(self.weight[group, column]),
            "baseline": float(self.baseline[group, column]),
            "claimed_by": self.objectives[c - 1][0].id if c > 0 else None,
        }
        if k == 0:
            return EffectiveRequirement(source=role.id, source_title=role.title, **common)
        obj, set_ref = self.objectives[k - 1]
        return EffectiveRequirement(
            source=obj.id,
            source_title=obj.title,
            objective_id=obj.id,
            objective_set=set_ref,
            due=obj.due,
            **common,
        )


def requirement_matrix(
    groups: Sequence[tuple[Role, str | None]],
    objectives: Sequence[ObjectiveSet | Objective],
    skill_ids: Sequence[str],
    on: date,
) -> RequirementMatrix:
    """Effective requirements of each (role, department) group on day ``on``.

    The rules are those of :func:`~activities.skills.gaps.effective_requirements`: per skill the
    highest target wins (ties: higher weight, then earlier due date), objectives are applied in
    the same order, and an objective weighs priority x importance (its own importance, else the
    role's for the skill, else 3); a role requirement flagged "Recommend Suppress" sets no
    target; the strongest objective asking for a skill is its claim. Skills outside
    ``skill_ids`` are ignored.

    Args:
        groups: (role, department) pairs, one matrix row each.
        objectives: Objective sets (all versions may be passed) and/or bare objectives.
        skill_ids: The skill columns.
        on: The day the requirements are computed for.

    Returns:
        The requirement matrices.

    """
    col = {s: j for j, s in enumerate(skill_ids)}
    g, s = len(groups), len(skill_ids)
    target = np.full((g, s), np.nan)
    weight = np.zeros((g, s))
    baseline = np.zeros((g, s))
    importance = np.full((g, s), DEFAULT_IMPORTANCE)
    source = np.zeros((g, s), dtype=np.int32)
    due = np.full((g, s), _NO_DUE, dtype=np.int64)
    role_row: dict[str, int] = {}
    for role, _ in groups:
        role_row.setdefault(role.id, len(role_row))
    role_level = np.full((len(role_row), s), np.nan)  # targets: suppressed rows set none
    role_base = np.full((len(role_row), s), np.nan)
    role_importance = np.full((len(role_row), s), np.nan)
    for role, _ in groups:
        r_i = role_row[role.id]
        for r in role.requirements:
            j = col.get(r.skill_id)
            if j is not None:
                if not r.suppressed:
                    role_level[r_i, j] = r.level
                role_base[r_i, j] = r.level
                role_importance[r_i, j] = r.importance
    of_role = np.array([role_row[role.id] for role, _ in groups], dtype=np.intp)
    if g:
        required = ~np.isnan(role_level[of_role])
        known = ~np.isnan(role_base[of_role])
        target = role_level[of_role]
        weight = np.where(required, role_importance[of_role], 0.0)
        baseline = np.where(known, role_base[of_role], 0.0)
        importance = np.where(known, role_importance[of_role], DEFAULT_IMPORTANCE)
    claim = np.zeros((g, s), dtype=np.int32)
    claim_t = np.full((g, s), np.nan)
    claim_w = np.zeros((g, s))
    claim_d = np.full((g, s), _NO_DUE, dtype=np.int64)
    active = active_objectives(objectives, on)
    role_ids = np.array([role.id for role, _ in groups], dtype=object)
    departments = np.array([d for _, d in groups], dtype=object)
    for k, (obj, _) in enumerate(active, start=1):
        if not obj.roles and not obj.departments:
            rows = np.arange(g)
        else:
            mask = np.isin(role_ids, list(obj.roles)) | np.isin(departments, list(obj.departments))
            rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        obj_due = obj.due.toordinal() if obj.due is not None else _NO_DUE
        for req in obj.requirements:
            j = col.get(req.skill_id)
            if j is None:
                continue
            imp = importance[rows, j] if req.importance is None else req.importance
            cand_w = obj.priority * imp
            beats = _beats(
                req.target, cand_w, obj_due, target[rows, j], weight[rows, j], due[rows, j]
            )
            win = rows[beats]
            target[win, j] = req.target
            weight[win, j] = cand_w if np.ndim(cand_w) == 0 else np.asarray(cand_w)[beats]
            source[win, j] = k
            due[win, j] = obj_due
            beats = _beats(
                req.target, cand_w, obj_due, claim_t[rows, j], claim_w[rows, j], claim_d[rows, j]
            )
            win = rows[beats]
            claim_t[win, j] = req.target
            claim_w[win, j] = cand_w if np.ndim(cand_w) == 0 else np.asarray(cand_w)[beats]
            claim_d[win, j] = obj_due
            claim[win, j] = k
    return RequirementMatrix(
        skill_ids=tuple(skill_ids),
        groups=tuple(groups),
        target=target,
        weight=weight,
        baseline=baseline,
        source=source,
        objectives=tuple(active),
        claim=claim,
    )


def _beats(
    cand_t: float,
    cand_w: float | FloatMatrix,
    cand_d: int,
    held_t: FloatMatrix,
    held_w: FloatMatrix,
    held_d: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Where a candidate requirement beats the one held (NaN target: none held)."""
    same_t = np.abs(cand_t - held_t) <= _EPS
    same_w = np.abs(cand_w - held_w) <= _EPS
    beats: NDArray[np.bool_] = (
        np.isnan(held_t)
        | (~same_t & (cand_t > held_t))
        | (same_t & ~same_w & (cand_w > held_w))
        | (same_t & same_w & (cand_d < held_d))
    )
    return beats


@dataclass(frozen=True)
class PopulationGaps:
    """Gaps of a population, as employees x skills matrices.

    Attributes:
        requirements: The requirement matrices the gaps were computed against.
        group: Requirement group (row of ``requirements``) of each employee.
        assessed: The assessed levels given (NaN: no evidence).
        current: Level each gap was measured from (assessed, or ``floor`` without evidence).
        size: Gap size, 0 where there is no gap.
        weighted: Gap size x weight, 0 where there is no gap.

    """

    requirements: RequirementMatrix
    group: NDArray[np.intp]
    assessed: FloatMatrix
    current: FloatMatrix
    size: FloatMatrix
    weighted: FloatMatrix

    @property
    def is_gap(self) -> NDArray[np.bool_]:
        """Where there is a gap."""
        return self.size > 0

    def counts(self) -> NDArray[np.intp]:
        """Number of gaps of each employee."""
        counts: NDArray[np.intp] = np.count_nonzero(self.size > 0, axis=1)
        return counts

    def totals(self) -> FloatMatrix:
        """Total weighted gap of each employee."""
        totals: FloatMatrix = self.weighted.sum(axis=1)
        return totals

    def gaps_for(self, employee: int, skills_by_id: Mapping[str, Skill]) -> list[Gap]:
        """One employee's gaps as :class:`Gap` objects, sorted like ``compute_gaps`` sorts.

        Args:
            employee: Row of the employee.
            skills_by_id: Skill catalog, for names.

        Returns:
            Gaps sorted by weighted size, largest first (ties by skill id); ``policy`` is
            "given" for an assessed level and "none" where the floor was assumed.

        """
        req = self.requirements
        grp = int(self.group[employee])
        out: list[Gap] = []
        for j in np.flatnonzero(self.size[employee] > 0):
            r = req.requirement(grp, int(j))
            if r is None:  # pragma: no cover - a gap always has a requirement
                continue
            skill = skills_by_id.get(r.skill_id)
            rated = not np.isnan(self.assessed[employee, j])
            out.append(
                Gap(
                    skill_id=r.skill_id,
                    skill_name=skill.name if skill is not None else r.skill_id,
                    target=r.target,
                    current=float(self.current[employee, j]),
                    size=float(self.size[employee, j]),
                    weight=r.weight,
                    source=r.source,
                    source_title=r.source_title,
                    objective_id=r.objective_id,
                    due=r.due,
                    policy="given" if rated else "none",
                    claimed_by=r.claimed_by,
                )
            )
        out.sort(key=lambda x: (-x.weighted_size, x.skill_id))
        return out


def population_gaps(
    requirements: RequirementMatrix,
    group: Sequence[int] | NDArray[np.intp],
    assessed: FloatMatrix,
    *,
    floor: float = 0.0,
    min_gap: float = 0.0,
    role_needs_evidence: bool = False,
    waived: NDArray[np.bool_] | None = None,
) -> PopulationGaps:
    """Gaps of every employee at once.

    With the defaults the result equals :func:`~activities.skills.gaps.compute_gaps` per
    employee. The product's planning rule (:func:`~activities.skills.gaps.decide_gaps`) is
    ``min_gap=0.5, role_needs_evidence=True``: a gap smaller than half a level is rating noise
    (exactly half a level is not: compared with a tolerance), and a role skill nobody has rated
    yet is unknown, not a gap, while a skill an objective asks for is a gap until there is
    evidence of it, whichever requirement won its target.

    Args:
        requirements: Requirement matrices (see :func:`requirement_matrix`).
        group: Requirement group (row of ``requirements``) of each employee.
        assessed: Employees x skills assessed levels, columns as ``requirements.skill_ids``;
            NaN where there is no evidence.
        floor: Level assumed where there is no evidence.
        min_gap: Smallest gap size kept.
        role_needs_evidence: Whether a requirement without evidence is skipped unless an
            objective asks for the skill.
        waived: Employees x skills, True where HR waived the gap (no gap there).

    Returns:
        Gap sizes and weighted gaps, employees x skills.

    Raises:
        ValueError: When the shapes do not match.

    """
    grp = np.asarray(group, dtype=np.intp)
    levels = np.asarray(assessed, dtype=np.float64)
    n, s = levels.shape
    if s != len(requirements.skill_ids) or grp.shape != (n,):
        raise ValueError("assessed must be employees x skills, group one row per employee")
    current = np.empty_like(levels)
    size = np.empty_like(levels)
    weighted = np.empty_like(levels)
    objective = requirements.claimed
    threshold = max(min_gap, 0.0)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        g = grp[lo:hi]
        a = levels[lo:hi]
        rated = ~np.isnan(a)
        cur = np.where(rated, a, floor)
        sz = requirements.target[g] - cur
        keep = sz > _EPS  # False where the target is NaN
        if threshold > 0:
            keep &= sz >= threshold - _EPS
        if role_needs_evidence:
            keep &= rated | objective[g]
        if waived is not None:
            keep &= ~waived[lo:hi]
        current[lo:hi] = cur
        size[lo:hi] = np.where(keep, sz, 0.0)
        np.multiply(size[lo:hi], requirements.weight[g], out=weighted[lo:hi])
    return PopulationGaps(
        requirements=requirements,
        group=grp,
        assessed=levels,
        current=current,
        size=size,
        weighted=weighted,
    )
