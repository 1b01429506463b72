"""The rule "learning load": sequenced, staggered within the monthly budget, deferred later."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from activities.skills.load import read_load_policy, sequence, stagger_plan
from schemas.skills import PlanItem


def item(cid: str, hours: float, value: float = 1.0, depends_on: tuple[str, ...] = ()) -> PlanItem:
    return PlanItem(
        course_id=cid, title=cid, hours=hours, reason="r", value=value, depends_on=depends_on
    )


SEVEN = [  # 79 hours, as the review produced
    item("basics", 2, 0.0),
    item("top", 6, 9.0, ("basics",)),
    item("mid-a", 8, 6.0),
    item("mid-b", 12, 5.0),
    item("long", 24, 4.0),
    item("low-a", 16, 2.0),
    item("low-b", 11, 1.0),
]


def test_prerequisites_come_first_then_weight() -> None:
    order = [i.course_id for i in sequence(SEVEN)]
    # The prerequisite is as urgent as the most valuable course waiting for it.
    assert order == ["basics", "top", "mid-a", "mid-b", "long", "low-a", "low-b"]


def test_rule_learning_load_no_month_exceeds_the_budget_and_the_rest_is_deferred() -> None:
    plan = stagger_plan(SEVEN, start=date(2026, 12, 1), hours_per_month=8)
    assert sum(s.hours for s in plan) == 79
    assert all(s.due >= s.starts for s in plan)
    # Items due in the same month never add up to more than the budget plus the spill-over
    # of an item spanning months; whole months: at most 8 h each from December on.
    due_by = sorted(plan, key=lambda s: s.due)
    for k, s in enumerate(due_by):
        months = (s.due.year - 2026) * 12 + s.due.month - 12 + 1
        assert sum(x.hours for x in due_by[: k + 1]) <= 8 * months
    enrolled = [s for s in plan if not s.deferred]
    assert sum(s.hours for s in enrolled) <= 8 * 4  # Dec..Mar at most
    assert all(s.due <= date(2027, 3, 31) for s in enrolled)
    deferred = [s for s in plan if s.deferred]
    assert deferred and all(
        s.deferred_until and s.deferred_until > date(2026, 12, 1) for s in deferred
    )
    assert deferred[0].note().startswith("deferred until 2027-")
    # Due dates are staggered: not all on the same day.
    assert len({s.due for s in plan}) > 3


def test_a_small_plan_fits_and_is_due_month_by_month() -> None:
    plan = stagger_plan([item("a", 4, 3), item("b", 4, 2), item("c", 6, 1)], start=date(2027, 1, 1))
    assert [(s.course_id, s.due.isoformat(), s.deferred) for s in plan] == [
        ("a", "2027-01-31", False),
        ("b", "2027-01-31", False),
        ("c", "2027-02-28", False),
    ]


def test_policy_file_overrides_per_department_and_role(tmp_path: Path) -> None:
    path = tmp_path / "load.toml"
    path.write_text(
        'hours_per_month = 6\n[departments]\nEngineering = 10\n[roles]\n"onet:x" = 12\n'
    )
    policy = read_load_policy(path)
    assert policy.hours_for("onet:y", "Sales") == 6
    assert policy.hours_for("onet:y", "Engineering") == 10
    assert policy.hours_for("onet:x", "Engineering") == 12
    assert read_load_policy(None, 8).hours_for("r", "d") == 8
    path.write_text("[roles]\nx = -1\n")
    with pytest.raises(ValueError, match="positive"):
        read_load_policy(path)
