"""Learning load: sequence a plan and stagger its due dates within an hours-per-month budget.

Pure functions (no I/O but reading the policy file), so a workflow can call them through a
local activity and tests without a server. The rule "learning load" of docs/decisions.md:
prerequisites first, then by weight (the item's value: objective priority x importance x gap
size); no month asks more than the budget; what does not fit this quarter is proposed for
later ("deferred until <date>"), not enrolled now.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from schemas.skills import PlanItem

DEFAULT_HOURS_PER_MONTH = 8.0
"""Learning hours a plan may ask of an employee per month, unless a policy says otherwise."""

_EPS = 1e-9


@dataclass(frozen=True)
class LoadPolicy:
    """The hours-per-month budget, with overrides per department and per role.

    Attributes:
        hours_per_month: The budget for everyone else.
        departments: Budget by department name.
        roles: Budget by role id (wins over the department's).

    """

    hours_per_month: float = DEFAULT_HOURS_PER_MONTH
    departments: Mapping[str, float] = field(default_factory=dict)
    roles: Mapping[str, float] = field(default_factory=dict)

    def hours_for(self, role_id: str | None, department: str | None) -> float:
        """The budget of an employee in ``role_id`` and ``department``."""
        if role_id is not None and role_id in self.roles:
            return self.roles[role_id]
        if department and department in self.departments:
            return self.departments[department]
        return self.hours_per_month


def read_load_policy(path: Path | None, default: float = DEFAULT_HOURS_PER_MONTH) -> LoadPolicy:
    """Read a load policy file (TOML), or the default policy when ``path`` is None.

    The file holds ``hours_per_month`` (optional; else ``default``) and the tables
    ``[departments]`` and ``[roles]`` mapping names / role ids to hours per month.

    Raises:
        ValueError: The file is not valid TOML, or a budget is not a positive number.
    """
    if path is None:
        return LoadPolicy(hours_per_month=default)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None

    def hours(value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{path}: {where} must be a positive number of hours")
        return float(value)

    def table(name: str) -> dict[str, float]:
        got = raw.get(name, {})
        if not isinstance(got, dict):
            raise ValueError(f"{path}: [{name}] must be a table")
        return {str(k): hours(v, f"{name}.{k}") for k, v in got.items()}

    return LoadPolicy(
        hours_per_month=hours(raw.get("hours_per_month", default), "hours_per_month"),
        departments=table("departments"),
        roles=table("roles"),
    )


@dataclass(frozen=True)
class ScheduledItem:
    """A plan item with its place in the sequence and its staggered due date.

    Attributes:
        course_id: The course.
        hours: Its hours.
        position: 0-based place in the sequence.
        starts: First day of the month it is planned in.
        due: Last day of the last month it uses (its due date).
        deferred_until: When it does not fit this quarter: the day it is proposed for (not
            enrolled before); None when it is enrolled now.

    """

    course_id: str
    hours: float
    position: int
    starts: date
    due: date
    deferred_until: date | None = None

    @property
    def deferred(self) -> bool:
        """Whether the budget pushes the item out of this quarter."""
        return self.deferred_until is not None

    def note(self) -> str:
        """What the plan says about the item's timing, e.g. "deferred until 2027-04-01"."""
        if self.deferred_until is not None:
            return f"deferred until {self.deferred_until.isoformat()} (learning-hours budget)"
        return f"due {self.due.isoformat()}"


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (the day clamped to the month's length)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def quarter_end(day: date) -> date:
    """The last day of the calendar quarter holding ``day``."""
    last_month = (day.month - 1) // 3 * 3 + 3
    return date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])


def sequence(items: Sequence[PlanItem]) -> list[PlanItem]:
    """Items in the order to take them: prerequisites first, then by weight, largest first.

    An item's weight is its value, or that of the most valuable item waiting for it (a
    prerequisite is as urgent as what it unlocks); ties go by course id. ``depends_on``
    naming courses outside ``items`` (already taken) is ignored.
    """
    ids = {i.course_id for i in items}
    waiting = {i.course_id: {d for d in i.depends_on if d in ids} for i in items}
    by_id = {i.course_id: i for i in items}
    weight = {i.course_id: i.value for i in items}
    for _ in items:  # propagate down the prerequisite chains (at most len(items) deep)
        for cid, deps in waiting.items():
            for d in deps:
                weight[d] = max(weight[d], weight[cid])
    done: set[str] = set()
    out: list[PlanItem] = []
    while len(out) < len(items):
        ready = [c for c, deps in waiting.items() if c not in done and deps <= done]
        if not ready:  # a cycle cannot come from the planner; keep the rest as given
            ready = [c for c in waiting if c not in done]
        nxt = min(ready, key=lambda c: (-weight[c], c))
        done.add(nxt)
        out.append(by_id[nxt])
    return out


def stagger_plan(
    items: Sequence[PlanItem],
    *,
    start: date,
    hours_per_month: float = DEFAULT_HOURS_PER_MONTH,
    horizon: date | None = None,
) -> list[ScheduledItem]:
    """Sequence a plan and stagger its due dates so that no month exceeds the budget.

    Months run from ``start`` (month k: ``add_months(start, k)`` to the day before month k+1).
    Items are placed in :func:`sequence` order, each from the month the previous one started
    in, using what is left of each month's budget; an item larger than what is left spans the
    following months. Its due date is the last day of the last month it uses. An item due
    after ``horizon`` (default: the end of ``start``'s quarter) is deferred until the first
    day of the month it starts in.

    Args:
        items: The plan's items (``choose_courses``; exact minimum hours, unchanged here).
        start: The day the plan is made.
        hours_per_month: The employee's budget (:meth:`LoadPolicy.hours_for`).
        horizon: The last day an item may be due and still be enrolled now.

    Returns:
        The items in sequence, each with its months, due date and deferral.

    Raises:
        ValueError: The budget is not positive.

    """
    if hours_per_month <= 0:
        raise ValueError("hours_per_month must be positive")
    last = horizon if horizon is not None else quarter_end(start)
    left: list[float] = []  # hours left in each month so far

    def room(k: int) -> float:
        while len(left) <= k:
            left.append(hours_per_month)
        return left[k]

    out: list[ScheduledItem] = []
    month = 0
    for position, item in enumerate(sequence(items)):
        while room(month) <= _EPS:
            month += 1
        first = month
        need = item.hours
        k = first
        while True:
            take = min(room(k), need)
            left[k] -= take
            need -= take
            if need <= _EPS:
                break
            k += 1
        starts = add_months(start, first)
        due = add_months(start, k + 1) - timedelta(days=1)
        out.append(
            ScheduledItem(
                course_id=item.course_id,
                hours=item.hours,
                position=position,
                starts=starts,
                due=due,
                deferred_until=starts if due > last else None,
            )
        )
    return out
