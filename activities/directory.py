"""Directory activities: who an employee is, their role and their manager.

An HRIS change that names something that does not exist is decided here (see
``docs/contract.md``): a role the directory does not hold, or the employee as their own
manager, refuses the change for good (the workflow records it as failed, with the reason); a
manager the directory does not know yet is accepted and logged (in a bulk onboarding the
manager's own "joined" may come later).
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased, sessionmaker
from temporalio import activity

from activities.errors import FailureType, permanent
from activities.store.tables import EmployeeRow, RoleRow
from schemas.events import EmployeeUpdated
from schemas.learning import Employee

"""Error type of a look-up for an employee the directory does not hold."""

log = logging.getLogger("talentloop.activities.directory")

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
        as the directory now knows them (None once they left, or for a change of an employee
        it never held). A joiner without a name (an event from before ``name`` existed) is
        named by their id. A manager the directory does not hold (yet) is stored and logged:
        the change is not refused for it.

        Raises:
            ApplicationError: Non-retryable ``SchemaInvalid`` when the change names the
                employee as their own manager (they could approve their own courses), or a
                role the directory does not hold; nothing is changed.
        """
        if update.manager_id is not None and update.manager_id == update.employee_id:
            raise permanent(
                f"employee {update.employee_id} cannot be their own manager: change refused",
                FailureType.SCHEMA_INVALID,
            )
        with self._sessions.begin() as s:
            row = s.get(EmployeeRow, update.employee_id)
            if row is None and (update.change != "joined" or update.role_id is None):
                return None
            if (
                update.change != "left"
                and update.role_id is not None
                and s.get(RoleRow, update.role_id) is None
            ):
                raise permanent(
                    f"role {update.role_id} is not in the directory: change of "
                    f"{update.employee_id} refused",
                    FailureType.SCHEMA_INVALID,
                )
            if update.manager_id is not None and update.change != "left":
                manager = s.get(EmployeeRow, update.manager_id)
                if manager is None or not manager.active:
                    log.warning(
                        "manager %s of %s is not an active employee in the directory (yet): "
                        "accepted; their approvals wait until they are",
                        update.manager_id,
                        update.employee_id,
                    )
            if row is None:
                assert update.role_id is not None
                row = EmployeeRow(
                    id=update.employee_id,
                    name=update.name or update.employee_id,
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
                for field in ("name", "role_id", "department", "manager_id", "email", "locale"):
                    value = getattr(update, field)
                    if value is not None:
                        setattr(row, field, value)
        return self.lookup(update.employee_id)
