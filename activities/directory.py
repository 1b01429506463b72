"""Directory activities: who an employee is, their role and their manager."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased, sessionmaker
from temporalio import activity

from activities.errors import FailureType, permanent
from activities.store.tables import EmployeeRow, RoleRow
from schemas.events import EmployeeUpdated
from schemas.learning import Employee

"""Error type of a look-up for an employee the directory does not hold."""


_MANAGER = aliased(EmployeeRow)
_LOOKUP = (
    select(
        EmployeeRow.name,
        EmployeeRow.email,
        EmployeeRow.role_id,
        RoleRow.title,
        EmployeeRow.department,
        EmployeeRow.manager_id,
        _MANAGER.name,
        _MANAGER.email,
        EmployeeRow.locale,
    )
    .outerjoin(RoleRow, RoleRow.id == EmployeeRow.role_id)
    .outerjoin(_MANAGER, _MANAGER.id == EmployeeRow.manager_id)
    .where(EmployeeRow.id == bindparam("employee_id"), EmployeeRow.active.is_(True))
)
"""An active employee with their role's title and their manager's name and email."""


class DirectoryActivities:
    """Reads employees from the application database (the HRIS mirror)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Build the activities over a database session factory."""
        self._sessions = sessions

    def lookup(self, employee_id: str) -> Employee | None:
        """Return the employee with their role and manager, or None if unknown or inactive."""
        with self._sessions() as s:
            row = s.execute(_LOOKUP, {"employee_id": employee_id}).first()
        if row is None:
            return None
        name, email, role_id, title, department, manager_id, m_name, m_email, locale = row
        return Employee(
            id=employee_id,
            name=name,
            email=email,
            role_id=role_id,
            role_title=title or role_id,
            department=department,
            manager_id=manager_id,
            manager_name=m_name,
            manager_email=m_email,
            locale=locale,
        )

    @activity.defn(name="directory.get_employee")
    def get_employee(self, employee_id: str) -> Employee:
        """Look an employee up; an unknown one fails without retries."""
        employee = self.lookup(employee_id)
        if employee is None:
            raise permanent(
                f"employee {employee_id} is not in the directory", FailureType.UNKNOWN_EMPLOYEE
            )
        return employee

    @activity.defn(name="directory.apply_update")
    def apply_update(self, update: EmployeeUpdated) -> Employee | None:
        """Mirror an HRIS change: joined (insert), moved (new role, department, manager), left.

        Idempotent: applying the same change again leaves the same row. Returns the employee
        as the directory now knows them (None once they left).
        """
        with self._sessions.begin() as s:
            row = s.get(EmployeeRow, update.employee_id)
            if row is None:
                if update.change != "joined" or update.role_id is None:
                    return None
                row = EmployeeRow(
                    id=update.employee_id,
                    name=update.employee_id,
                    email=update.email or "",
                    role_id=update.role_id,
                    department=update.department or "",
                    manager_id=update.manager_id,
                    locale=update.locale or "en",
                    active=True,
                )
                s.add(row)
            else:
                row.active = update.change != "left"
                for field in ("role_id", "department", "manager_id", "email", "locale"):
                    value = getattr(update, field)
                    if value is not None:
                        setattr(row, field, value)
        return self.lookup(update.employee_id)
