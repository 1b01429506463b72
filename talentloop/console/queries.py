"""What the console's pages show, read from the read model and the app database's tables.

Every query takes the signed-in `User`: HR roles read the whole organisation, a manager only
their direct reports plus the employees whose pending items were escalated to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from activities.store.readmodel import (
    ConsoleAuditRow,
    RmDeadLetterRow,
    RmGapClosureRow,
    RmPlanItemRow,
    RmRolloutRow,
    RmTimelineRow,
)
from activities.store.tables import (
    EmployeeRow,
    EvidenceRow,
    RoleRequirementRow,
    RoleRow,
    SkillRow,
)
from schemas.skills import ONET_LV_ID
from talentloop.console.auth import User

PAGE_SIZE = 50
"""Rows per page of every list."""
CSV_LIMIT = 100_000
"""Most rows one CSV export carries."""

OPEN_STATES = ("proposed", "awaiting_approval", "waitlisted", "enrolled", "in_progress", "overdue")
ALL_STATES = (*OPEN_STATES, "completed", "waived", "rejected", "withdrawn", "failed")


def _employee_scope(user: User) -> ColumnElement[bool]:
    """Which employees (rows of ``employees``) the user may read."""
    if user.sees_all:
        return true()
    if not user.employee_id:
        return false()
    escalated = exists().where(
        RmPlanItemRow.employee_id == EmployeeRow.id,
        RmPlanItemRow.approver_id == user.employee_id,
    )
    return or_(EmployeeRow.manager_id == user.employee_id, escalated)


def _team(user: User) -> Any:
    """The ids of the user's direct reports (a subquery)."""
    return select(EmployeeRow.id).where(EmployeeRow.manager_id == user.employee_id)


def _item_scope(user: User) -> ColumnElement[bool]:
    """Which plan items the user may read (no join needed)."""
    if user.sees_all:
        return true()
    if not user.employee_id:
        return false()
    return or_(
        RmPlanItemRow.employee_id.in_(_team(user)),
        RmPlanItemRow.approver_id == user.employee_id,
    )


def may_read_employee(s: Session, user: User, employee_id: str) -> bool:
    """Whether the user may open the employee's page."""
    if user.sees_all:
        return True
    found = s.scalar(
        select(func.count())
        .select_from(EmployeeRow)
        .where(EmployeeRow.id == employee_id, _employee_scope(user))
    )
    return bool(found)


def may_decide(s: Session, user: User, employee_id: str, course_id: str) -> str | None:
    """The approver the decision is taken for, or None when the user may not decide.

    An HR admin decides on behalf of the item's current approver (audited as themselves); a
    manager decides only items whose current approver they are.
    """
    item = s.get(RmPlanItemRow, (employee_id, course_id))
    if item is None or item.state != "awaiting_approval" or not item.approver_id:
        return None
    if user.role == "hr_admin":
        return item.approver_id
    if user.role == "manager" and user.employee_id == item.approver_id:
        return item.approver_id
    return None


@dataclass
class Period:
    """A half-open period of days ``[start, end)``."""

    start: date
    end: date

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Period:
        """The `days` days up to and including today."""
        today = today or datetime.now(UTC).date()
        return cls(today - timedelta(days=days - 1), today + timedelta(days=1))

    @property
    def last(self) -> date:
        """The period's last day."""
        return self.end - timedelta(days=1)

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC datetimes."""
        return (
            datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC),
            datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC),
        )


@dataclass
class Overview:
    """The overview's numbers."""

    reviews: int
    planned: int
    enrolled: int
    completed: int
    gaps_closed: int
    overdue: int
    approvals_waiting: int
    approvals_past_sla: int
    failed_notifications: int
    dead_letters: int | None
    rollouts: list[RmRolloutRow] = field(default_factory=list)


def overview(s: Session, user: User, period: Period, sla_days: int, now: datetime) -> Overview:
    """The funnel over `period` and today's exceptions, within the user's scope."""
    lo, hi = period.bounds()
    scope = _item_scope(user)

    def items(*where: ColumnElement[bool]) -> int:
        q = select(func.count()).select_from(RmPlanItemRow).where(scope, *where)
        return int(s.scalar(q) or 0)

    def in_period(col: Any) -> ColumnElement[bool]:
        return and_(col >= lo, col < hi)

    by_state: dict[str, int] = {
        state: int(n)
        for state, n in s.execute(
            select(RmPlanItemRow.state, func.count())
            .where(scope, RmPlanItemRow.state.in_(("overdue", "awaiting_approval")))
            .group_by(RmPlanItemRow.state)
        ).all()
    }
    reviewed = (
        select(EvidenceRow.employee_id, EvidenceRow.ref)
        .distinct()
        .where(
            EvidenceRow.observed_at >= period.start,
            EvidenceRow.observed_at < period.end,
            EvidenceRow.source.like("review%"),
        )
    )
    closed = select(func.count()).select_from(RmGapClosureRow).where(in_period(RmGapClosureRow.at))
    if not user.sees_all:
        team = _team(user) if user.employee_id else select(EmployeeRow.id).where(false())
        reviewed = reviewed.where(EvidenceRow.employee_id.in_(team))
        closed = closed.where(RmGapClosureRow.employee_id.in_(team))
    reviews = s.scalar(select(func.count()).select_from(reviewed.subquery()))
    dead = (
        int(s.scalar(select(func.count()).select_from(RmDeadLetterRow)) or 0)
        if user.sees_all
        else None
    )
    rollouts = (
        list(s.scalars(select(RmRolloutRow).order_by(RmRolloutRow.finished_at.desc()).limit(5)))
        if user.sees_all
        else []
    )
    return Overview(
        reviews=int(reviews or 0),
        planned=items(in_period(RmPlanItemRow.created_at)),
        enrolled=items(in_period(RmPlanItemRow.enrolled_at)),
        completed=items(in_period(RmPlanItemRow.completed_at)),
        gaps_closed=int(s.scalar(closed) or 0),
        overdue=by_state.get("overdue", 0),
        approvals_waiting=by_state.get("awaiting_approval", 0),
        approvals_past_sla=items(
            RmPlanItemRow.state == "awaiting_approval",
            RmPlanItemRow.approval_requested_at < now - timedelta(days=sla_days),
        ),
        failed_notifications=items(RmPlanItemRow.notice_status == "failed"),
        dead_letters=dead,
        rollouts=rollouts,
    )


@dataclass
class ItemFilter:
    """Filters of the plan-item list (every field optional)."""

    q: str = ""
    state: str = ""
    department: str = ""
    role: str = ""
    overdue: bool = False
    past_sla: bool = False
    failed_notice: bool = False
    approver: str = ""

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (for links to other pages and the CSV)."""
        out = {
            "q": self.q,
            "state": self.state,
            "department": self.department,
            "role": self.role,
            "overdue": "1" if self.overdue else "",
            "past_sla": "1" if self.past_sla else "",
            "failed_notice": "1" if self.failed_notice else "",
            "approver": self.approver,
        }
        return {k: v for k, v in out.items() if v}


ITEM_COLUMNS = (
    "employee_id",
    "name",
    "department",
    "role_id",
    "course_id",
    "title",
    "state",
    "due",
    "approver_id",
    "approval_requested_at",
    "days_overdue",
    "notice_status",
    "reason",
)


def _items_query(user: User, f: ItemFilter, sla_days: int, now: datetime) -> Any:
    q = (
        select(
            RmPlanItemRow.employee_id,
            EmployeeRow.name,
            EmployeeRow.department,
            EmployeeRow.role_id,
            RmPlanItemRow.course_id,
            RmPlanItemRow.title,
            RmPlanItemRow.state,
            RmPlanItemRow.due,
            RmPlanItemRow.approver_id,
            RmPlanItemRow.approval_requested_at,
            RmPlanItemRow.days_overdue,
            RmPlanItemRow.notice_status,
            RmPlanItemRow.reason,
        )
        .join(EmployeeRow, EmployeeRow.id == RmPlanItemRow.employee_id, isouter=True)
        .where(_item_scope(user))
    )
    if f.q:
        like = f"%{f.q.lower()}%"
        q = q.where(
            or_(
                func.lower(RmPlanItemRow.employee_id).like(like),
                func.lower(EmployeeRow.name).like(like),
                func.lower(RmPlanItemRow.course_id).like(like),
            )
        )
    if f.state:
        q = q.where(RmPlanItemRow.state == f.state)
    # As id lists: the plan items are then read by primary key, employee by employee.
    if f.department:
        dept = select(EmployeeRow.id).where(EmployeeRow.department == f.department)
        q = q.where(RmPlanItemRow.employee_id.in_(dept))
    if f.role:
        role = select(EmployeeRow.id).where(EmployeeRow.role_id == f.role)
        q = q.where(RmPlanItemRow.employee_id.in_(role))
    if f.overdue:
        q = q.where(RmPlanItemRow.state == "overdue")
    if f.past_sla:
        q = q.where(
            RmPlanItemRow.state == "awaiting_approval",
            RmPlanItemRow.approval_requested_at < now - timedelta(days=sla_days),
        )
    if f.failed_notice:
        q = q.where(RmPlanItemRow.notice_status == "failed")
    if f.approver:
        q = q.where(RmPlanItemRow.approver_id == f.approver)
    return q


def items(
    s: Session, user: User, f: ItemFilter, page: int, sla_days: int, now: datetime
) -> tuple[list[Any], int]:
    """One page of plan items matching the filter, and how many match in all."""
    q = _items_query(user, f, sla_days, now)
    total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = s.execute(
        q.order_by(RmPlanItemRow.employee_id, RmPlanItemRow.course_id)
        .limit(PAGE_SIZE)
        .offset(max(page - 1, 0) * PAGE_SIZE)
    ).all()
    return list(rows), total


def items_all(s: Session, user: User, f: ItemFilter, sla_days: int, now: datetime) -> list[Any]:
    """Every plan item matching the filter (up to `CSV_LIMIT`), for a CSV export."""
    q = _items_query(user, f, sla_days, now)
    order = (RmPlanItemRow.employee_id, RmPlanItemRow.course_id)
    return list(s.execute(q.order_by(*order).limit(CSV_LIMIT)).all())


def departments(s: Session, user: User) -> list[str]:
    """The departments the user can see, for the filter's choices."""
    q = select(EmployeeRow.department).distinct().where(_employee_scope(user))
    return sorted(d for d in s.scalars(q) if d)


def roles(s: Session, user: User) -> list[str]:
    """The roles held by employees the user can see, for the filter's choices."""
    q = select(EmployeeRow.role_id).distinct().where(_employee_scope(user))
    return sorted(r for r in s.scalars(q) if r)


@dataclass
class Heatmap:
    """Departments by skills: the share of employees at or above the required level."""

    departments: list[str]
    skills: list[tuple[str, str]]
    """(skill id, name) of each column."""
    cells: dict[tuple[str, str], tuple[float, int, float | None]]
    """(department, skill) → (share now, employees required, change since quarter start)."""
    quarter_start: date


def quarter_start(today: date) -> date:
    """The first day of the quarter `today` lies in."""
    return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)


def heatmap(s: Session, user: User, today: date, columns: int = 12) -> Heatmap:
    """Coverage of the role requirements, per department and skill (the most required skills).

    An employee's level in a skill is their latest evidence on the O*NET level scale; an
    employee with no evidence in a required skill counts as not at the level.
    """
    required = (
        select(
            EmployeeRow.id.label("employee_id"),
            EmployeeRow.department.label("department"),
            RoleRequirementRow.skill_id.label("skill_id"),
            RoleRequirementRow.level.label("level"),
        )
        .join(RoleRequirementRow, RoleRequirementRow.role_id == EmployeeRow.role_id)
        .where(
            EmployeeRow.active.is_(True),
            RoleRequirementRow.suppressed.is_(False),
            _employee_scope(user),
        )
    ).subquery()
    top = list(
        s.execute(
            select(required.c.skill_id, func.count().label("n"))
            .group_by(required.c.skill_id)
            .order_by(func.count().desc(), required.c.skill_id)
            .limit(columns)
        ).all()
    )
    skill_ids = [r.skill_id for r in top]
    if not skill_ids:
        return Heatmap([], [], {}, quarter_start(today))
    names = dict(
        s.execute(select(SkillRow.id, SkillRow.name).where(SkillRow.id.in_(skill_ids))).all()
    )
    q0 = quarter_start(today)

    def latest(before: date | None) -> Any:
        ranked = select(
            EvidenceRow.employee_id,
            EvidenceRow.skill_id,
            EvidenceRow.level,
            func.row_number()
            .over(
                partition_by=(EvidenceRow.employee_id, EvidenceRow.skill_id),
                order_by=(EvidenceRow.observed_at.desc(), EvidenceRow.id.desc()),
            )
            .label("rn"),
        ).where(EvidenceRow.scale_id == ONET_LV_ID, EvidenceRow.skill_id.in_(skill_ids))
        if before is not None:
            ranked = ranked.where(EvidenceRow.observed_at < before)
        sub = ranked.subquery()
        return (
            select(sub.c.employee_id, sub.c.skill_id, sub.c.level).where(sub.c.rn == 1).subquery()
        )

    now_lv, then_lv = latest(None), latest(q0)
    rows = s.execute(
        select(
            required.c.department,
            required.c.skill_id,
            func.count(),
            func.sum(case((now_lv.c.level >= required.c.level, 1), else_=0)),
            func.sum(case((then_lv.c.level >= required.c.level, 1), else_=0)),
        )
        .join(
            now_lv,
            and_(
                now_lv.c.employee_id == required.c.employee_id,
                now_lv.c.skill_id == required.c.skill_id,
            ),
            isouter=True,
        )
        .join(
            then_lv,
            and_(
                then_lv.c.employee_id == required.c.employee_id,
                then_lv.c.skill_id == required.c.skill_id,
            ),
            isouter=True,
        )
        .where(required.c.skill_id.in_(skill_ids))
        .group_by(required.c.department, required.c.skill_id)
    ).all()
    cells: dict[tuple[str, str], tuple[float, int, float | None]] = {}
    for dept, skill, n, at_now, at_then in rows:
        share = (at_now or 0) / n
        cells[(dept or "—", skill)] = (share, int(n), share - (at_then or 0) / n)
    return Heatmap(
        departments=sorted({d for d, _ in cells}),
        skills=[(k, names.get(k, k)) for k in skill_ids],
        cells=cells,
        quarter_start=q0,
    )


@dataclass
class EmployeePage:
    """An employee's page: who, their plan items and their timeline."""

    employee: EmployeeRow | None
    role_title: str
    items: list[RmPlanItemRow]
    timeline: list[RmTimelineRow]


def employee_page(s: Session, employee_id: str, timeline_limit: int = 200) -> EmployeePage:
    """The employee, their plan items (newest first) and their latest timeline lines."""
    emp = s.get(EmployeeRow, employee_id)
    role = s.get(RoleRow, emp.role_id) if emp is not None else None
    plan = list(
        s.scalars(
            select(RmPlanItemRow)
            .where(RmPlanItemRow.employee_id == employee_id)
            .order_by(RmPlanItemRow.created_at.desc(), RmPlanItemRow.course_id)
        )
    )
    timeline = list(
        s.scalars(
            select(RmTimelineRow)
            .where(RmTimelineRow.employee_id == employee_id)
            .order_by(RmTimelineRow.at.desc(), RmTimelineRow.key)
            .limit(timeline_limit)
        )
    )
    return EmployeePage(emp, role.title if role else "", plan, timeline)


def dead_letters(s: Session, reason: str, page: int) -> tuple[list[RmDeadLetterRow], int]:
    """One page of dead letters (newest first), optionally of one reason, and the total."""
    q = select(RmDeadLetterRow)
    if reason:
        q = q.where(RmDeadLetterRow.reason == reason)
    total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = s.scalars(
        q.order_by(RmDeadLetterRow.at.desc(), RmDeadLetterRow.partition, RmDeadLetterRow.offset)
        .limit(PAGE_SIZE)
        .offset(max(page - 1, 0) * PAGE_SIZE)
    )
    return list(rows), total


def dead_letter_reasons(s: Session) -> list[str]:
    """The reasons dead letters were refused for."""
    return sorted(s.scalars(select(RmDeadLetterRow.reason).distinct()))


def audit_lines(s: Session, user: User, page: int) -> tuple[list[ConsoleAuditRow], int]:
    """One page of the audit (newest first); a manager sees their own actions only."""
    q = select(ConsoleAuditRow)
    if not user.sees_all:
        q = q.where(ConsoleAuditRow.actor == user.username)
    total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = s.scalars(
        q.order_by(ConsoleAuditRow.at.desc(), ConsoleAuditRow.id.desc())
        .limit(PAGE_SIZE)
        .offset(max(page - 1, 0) * PAGE_SIZE)
    )
    return list(rows), total
