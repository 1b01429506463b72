"""Directory activities: who an employee is, their role and their manager."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.store.tables import EmployeeRow, RoleRow
from schemas.events import EmployeeUpdated
from schemas.learning import Employee

UNKNOWN_EMPLOYEE = "UnknownEmployee"
"""Error type of a look-up for an employee the directory does not hold."""


class DirectoryActivities:
    """Reads employees from the application database (the HRIS mirror)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Build the activities over a database session factory."""
        self._sessions = sessions

    def lookup(self, employee_id: str) -> Employee | None:
        """Return the employee with their role and manager, or None if unknown or inactive."""
        with self._sessions() as s:
            row = s.get(EmployeeRow, employee_id)
            if row is None or not row.active:
                return None
            role = s.get(RoleRow, row.role_id)
            manager = s.get(EmployeeRow, row.manager_id) if row.manager_id else None
            return Employee(
                id=row.id,
                name=row.name,
                email=row.email,
                role_id=row.role_id,
                role_title=role.title if role else row.role_id,
                department=row.department,
                manager_id=row.manager_id,
                manager_name=manager.name if manager else None,
                manager_email=manager.email if manager else None,
                locale=row.locale,
            )

    @activity.defn(name="directory.get_employee")
    def get_employee(self, employee_id: str) -> Employee:
        """Look an employee up; an unknown one fails without retries."""
        employee = self.lookup(employee_id)
        if employee is None:
            raise ApplicationError(
                f"employee {employee_id} is not in the directory",
                type=UNKNOWN_EMPLOYEE,
                non_retryable=True,
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
