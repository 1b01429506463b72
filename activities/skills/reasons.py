"""Reasons in words: levels as O*NET's level anchors describe them, evidence, and the rule.

Pure text building (no I/O), used for plan items (so emails and ``talentloop plan`` show it)
and anywhere a gap is explained. O*NET's anchors (``Level Scale Anchors.txt``, LV scale) are
English: for other locales the English anchor text is shown and :data:`ENGLISH_ANCHORS_NOTE`
says so, until a translation is added. Evidence is named by kind of rater, review and date,
never by the rater's identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.skills import Evidence, Gap, PlanItem, Skill, format_level

ENGLISH_ANCHORS_NOTE = "level descriptions: O*NET's English anchors (not translated yet)"
"""Appended to reasons in a locale other than English."""

_RATER = {
    "review_manager": "manager review",
    "review_self": "self-review",
    "review_peer": "peer review",
    "course": "completed course",
    "import": "imported record",
}


def nearest_anchor(skill: Skill | None, level: float) -> str | None:
    """The anchor text nearest to ``level`` (ties: the lower anchor), if the skill has any."""
    if skill is None or not skill.anchors:
        return None
    key = min(skill.anchors, key=lambda k: (abs(k - level), k))
    return skill.anchors[key]


def level_words(skill: Skill | None, level: float) -> str:
    """A level in words: "about '<nearest anchor>'", else "level <n>"."""
    anchor = nearest_anchor(skill, level)
    return f"about '{anchor}'" if anchor else f"level {format_level(level)}"


def evidence_words(evidence: Sequence[Evidence]) -> str:
    """The evidence behind a level: kind of rater, which review, when; never who rated."""
    if not evidence:
        return "no evidence yet"
    parts = []
    for e in evidence:
        kind = _RATER.get(e.source, e.source)
        what = e.ref.removeprefix("course:") if e.source == "course" else e.ref
        parts.append(f"{kind} {what} of {e.observed_at.isoformat()}")
    return ", ".join(parts)


def rule_words(gap: Gap) -> str:
    """The rule that made it a gap (docs/decisions.md)."""
    if gap.objective_id is not None and gap.objective_id.startswith("goal:"):
        # An employee's goal (activities/goals.py): its title names it.
        due = f", due {gap.due.isoformat()}" if gap.due is not None else ""
        return f"for {gap.source_title or 'your goal'}{due}"
    if gap.objective_id is not None:
        due = f" by {gap.due.isoformat()}" if gap.due is not None else ""
        return f"objective {gap.objective_id} asks for it{due}"
    role = gap.source_title or gap.source or "your role"
    if not gap.evidence and gap.claimed_by is not None:
        claimant = (
            "your goal" if gap.claimed_by.startswith("goal:") else f"objective {gap.claimed_by}"
        )
        return (
            f"{claimant} asks for it and there is no evidence yet "
            f"(the role {role} sets the level)"
        )
    return f"the role {role} asks for it"


def gap_reason(gap: Gap, skill: Skill | None, locale: str = "en") -> str:
    """One gap in words, e.g. "Critical Thinking: from about '…' toward '…' (rule; evidence)"."""
    start = "no evidence yet" if not gap.evidence else level_words(skill, gap.current)
    target = level_words(skill, gap.target).removeprefix("about ")
    if skill is not None and gap.evidence and target == start.removeprefix("about "):
        # Both levels nearest the same anchor: aim at the next anchor up, if any.
        here = min(skill.anchors, key=lambda k: (abs(k - gap.current), k))
        above = sorted(k for k in skill.anchors if k > here)
        target = f"'{skill.anchors[above[0]]}'" if above else f"above {target}"
    text = (
        f"{gap.skill_name}: from {start} toward {target}"
        f" ({rule_words(gap)}; evidence: {evidence_words(gap.evidence)})"
    )
    if not locale.lower().startswith("en") and skill is not None and skill.anchors:
        text += f" [{ENGLISH_ANCHORS_NOTE}]"
    return text


def item_reason(
    item: PlanItem,
    gaps_by_skill: Mapping[str, Gap],
    skills: Mapping[str, Skill],
    locale: str = "en",
) -> str:
    """Why a plan item is there, in words.

    Each gap it closes is explained; a supporting course keeps its own reason.
    """
    said = [
        gap_reason(gaps_by_skill[s], skills.get(s), locale)
        for s in item.closes
        if s in gaps_by_skill
    ]
    return "; ".join(said) if said else item.reason


def worded_items(
    items: Sequence[PlanItem],
    gaps: Sequence[Gap],
    skills: Mapping[str, Skill],
    locale: str = "en",
) -> list[PlanItem]:
    """Plan items with their reasons in words; the numeric reason moves to ``detail``."""
    by_skill = {g.skill_id: g for g in gaps}
    return [
        i.model_copy(
            update={"reason": item_reason(i, by_skill, skills, locale), "detail": i.reason}
        )
        for i in items
    ]
