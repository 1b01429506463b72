"""Assessed proficiency: aggregating dated evidence (reviews, courses, imports) by a policy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from activities.skills.scales import ONET_LV, ScaleRegistry, convert
from schemas.skills import AssessedLevel, AssessmentPolicy, Evidence, ProficiencyScale

SOURCE_RANK: dict[str, int] = {
    "review_manager": 4,
    "import": 3,
    "review_peer": 2,
    "review_self": 1,
}
"""Authority of rating sources for "manager_over_self" (courses are handled apart)."""

_DEFAULT_REGISTRY = ScaleRegistry()


def resolve_policy(policy: str | AssessmentPolicy) -> AssessmentPolicy:
    """Return the policy object for a policy name or object.

    Raises:
        ValueError: For an unknown policy name.

    """
    if isinstance(policy, AssessmentPolicy):
        return policy
    try:
        return AssessmentPolicy.model_validate({"name": policy})
    except Exception as exc:
        raise ValueError(f"unknown assessment policy {policy!r}") from exc


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _latest_of(items: list[tuple[Evidence, float]]) -> list[tuple[Evidence, float]]:
    newest = max(e.observed_at for e, _ in items)
    return [(e, v) for e, v in items if e.observed_at == newest]


def _raise_by_courses(
    level: float,
    basis: list[tuple[Evidence, float]],
    courses: list[tuple[Evidence, float]],
) -> tuple[float, list[tuple[Evidence, float]]]:
    since = max((e.observed_at for e, _ in basis), default=date.min)
    newer = [(e, v) for e, v in courses if e.observed_at >= since and v > level]
    if not newer:
        return level, basis
    best = max(newer, key=lambda ev: (ev[1], ev[0].observed_at))
    return best[1], [*basis, best]


def _aggregate(
    items: list[tuple[Evidence, float]], policy: AssessmentPolicy, on: date
) -> tuple[float, list[tuple[Evidence, float]]]:
    """Level and basis for one skill's converted evidence (non-empty)."""
    ratings = [(e, v) for e, v in items if e.source != "course"]
    courses = [(e, v) for e, v in items if e.source == "course"]
    if policy.name == "highest":
        best = max(items, key=lambda ev: (ev[1], ev[0].observed_at))
        return best[1], [best]
    if policy.name == "recency_weighted_mean":
        weights = [
            policy.source_weights.get(e.source, 1.0)
            * 0.5 ** (max(0, (on - e.observed_at).days) / policy.half_life_days)
            for e, _ in items
        ]
        total = sum(weights)
        if total <= 0:
            return _mean([v for _, v in items]), list(items)
        return sum(w * v for w, (_, v) in zip(weights, items, strict=True)) / total, list(items)
    if not ratings:
        best = max(courses, key=lambda ev: (ev[1], ev[0].observed_at))
        return best[1], [best]
    if policy.name == "latest":
        # Courses never lower a level: they only raise it, and only with courses_raise.
        newest = _latest_of(ratings)
        top = max(SOURCE_RANK.get(e.source, 0) for e, _ in newest)
        basis = [(e, v) for e, v in newest if SOURCE_RANK.get(e.source, 0) == top]
    else:  # manager_over_self
        top = max(SOURCE_RANK.get(e.source, 0) for e, _ in ratings)
        basis = _latest_of([(e, v) for e, v in ratings if SOURCE_RANK.get(e.source, 0) == top])
    level = _mean([v for _, v in basis])
    if policy.courses_raise and courses:
        return _raise_by_courses(level, basis, courses)
    return level, basis


def assess(
    evidence: Sequence[Evidence],
    policy: str | AssessmentPolicy = "manager_over_self",
    on: date | None = None,
    *,
    scale: ProficiencyScale = ONET_LV,
    scales: ScaleRegistry | None = None,
) -> dict[str, AssessedLevel]:
    """Aggregate one employee's evidence into an assessed level per skill.

    Evidence levels are converted from their declared scale to ``scale`` first; evidence
    observed after ``on`` is ignored.

    Args:
        evidence: The employee's evidence, any order, any skills.
        policy: A policy name ("manager_over_self", "latest", "highest",
            "recency_weighted_mean") or a configured :class:`AssessmentPolicy`.
        on: Assessment day; None means the newest evidence's day.
        scale: The framework scale assessed levels are on (O*NET LV by default).
        scales: Known scales, for converting evidence levels.

    Returns:
        Assessed level per skill id, each with all its evidence and the evidence that decided it.

    """
    pol = resolve_policy(policy)
    registry = scales or _DEFAULT_REGISTRY
    if on is None:
        on = max((e.observed_at for e in evidence), default=date.today())
    by_skill: dict[str, list[tuple[Evidence, float]]] = defaultdict(list)
    for e in evidence:
        if e.observed_at > on:
            continue
        level = (
            e.level if e.scale_id == scale.id else convert(e.level, registry.get(e.scale_id), scale)
        )
        by_skill[e.skill_id].append((e, scale.clamp(level)))
    out: dict[str, AssessedLevel] = {}
    for sid, items in by_skill.items():
        items.sort(key=lambda ev: (ev[0].observed_at, ev[0].ref))
        level, basis = _aggregate(items, pol, on)
        out[sid] = AssessedLevel(
            skill_id=sid,
            level=scale.clamp(level),
            policy=pol.name,
            evidence=tuple(e for e, _ in items),
            basis=tuple(e for e, _ in basis),
        )
    return out
