"""Reasons in words: O*NET anchors, the evidence (never who rated), the rule, the locale note."""

from __future__ import annotations

from datetime import date

from activities.skills.onet import PACKAGED_ONET_DIR, load_onet
from activities.skills.reasons import ENGLISH_ANCHORS_NOTE, gap_reason, nearest_anchor
from schemas.skills import Evidence, Gap

ONET = load_onet(PACKAGED_ONET_DIR, ["15-1252.00"])
CRITICAL = ONET.skills_by_id["onet:2.A.2.a"]  # Critical Thinking


def gap(**over: object) -> Gap:
    fields: dict[str, object] = {
        "skill_id": CRITICAL.id,
        "skill_name": CRITICAL.name,
        "target": 4.1,
        "current": 2.2,
        "size": 1.9,
        "weight": 4,
        "source": "onet:15-1252.00",
        "source_title": "Software Developers",
        "evidence": (
            Evidence(
                skill_id=CRITICAL.id,
                level=2.2,
                source="review_peer",
                observed_at=date(2026, 11, 2),
                ref="rev-17",
                rater_id="E00042",
            ),
        ),
        "policy": "manager_over_self",
    }
    fields.update(over)
    return Gap.model_validate(fields)


def test_levels_are_described_by_the_nearest_o_net_anchors() -> None:
    assert CRITICAL.anchors, "the packaged data carries the level anchors"
    text = gap_reason(gap(), CRITICAL)
    assert f"from about '{nearest_anchor(CRITICAL, 2.2)}'" in text
    assert f"toward '{nearest_anchor(CRITICAL, 4.1)}'" in text
    assert "peer review rev-17 of 2026-11-02" in text
    assert "E00042" not in text  # never the rater's identity
    assert "the role Software Developers asks for it" in text
    assert ENGLISH_ANCHORS_NOTE not in text


def test_other_locales_show_the_english_anchors_and_say_so() -> None:
    assert gap_reason(gap(), CRITICAL, "de").endswith(f"[{ENGLISH_ANCHORS_NOTE}]")


def test_the_rule_is_named_for_objectives_and_unrated_claims() -> None:
    by_objective = gap_reason(gap(objective_id="Q1-cloud", due=date(2027, 3, 31)), CRITICAL)
    assert "objective Q1-cloud asks for it by 2027-03-31" in by_objective
    claimed = gap_reason(gap(evidence=(), claimed_by="Q1-cloud", current=0.0), CRITICAL)
    assert "from no evidence yet" in claimed
    assert "objective Q1-cloud asks for it and there is no evidence yet" in claimed
