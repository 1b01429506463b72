"""Sample data for `talentloop mail preview`: the employee, their manager, catalog courses."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.store.tables import CourseRow
from schemas.learning import Employee, EnrolledCourse, Recipient


def preview_context(sessions: sessionmaker[Session], employee: Employee) -> dict[str, Any]:
    """A template context like the workflow's, with two courses of the catalog as examples."""
    with sessions() as s:
        rows = s.scalars(select(CourseRow).order_by(CourseRow.id).limit(2)).all()
    due = date.today() + timedelta(days=30)
    courses = [
        EnrolledCourse(
            course_id=r.id,
            title=r.title,
            hours=r.hours,
            due=due,
            reason="example: the reason the plan gives for this course",
        )
        for r in rows
    ]
    manager = Recipient(
        id=employee.manager_id or employee.id,
        name=employee.manager_name or employee.name,
        email=employee.manager_email or employee.email,
        locale=employee.locale,
    )
    return {
        "employee": employee,
        "to": manager,
        "courses": courses,
        "pending": courses[1:],
        "uncoverable": [],
        "facts": {
            "days_left": "7",
            "respond_by": (date.today() + timedelta(days=5)).isoformat(),
            "next_step": "escalation to the next manager",
            "closed": courses[0].title if courses else "",
            "remaining": "",
        },
    }
