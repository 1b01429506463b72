"""The dedupe keys of the employee workflow's emails: one key per email that may go out once.

The mail activity records each key in its outbox and derives the Message-ID from it, so a
retried or replayed step sends nothing twice. A key names the employee, the purpose, the item
and the occurrence.
"""

from __future__ import annotations


def enrollment(cause: str) -> str:
    """The enrollment email of everything one event (`cause`) enrolled or sent for approval."""
    return f"enrollment:{cause}"


def approved_enrollment(employee_id: str, course_id: str) -> str:
    """The enrollment email after a course was approved (by a person or the default)."""
    return f"enrollment:{employee_id}:{course_id}:approved"


def promoted(employee_id: str, course_id: str) -> str:
    """The enrollment email after the LMS gave a waitlisted employee a seat."""
    return f"enrollment:{employee_id}:{course_id}:promoted"


def completed(employee_id: str, course_id: str) -> str:
    """The congratulation on a completed course."""
    return f"{employee_id}:completed:{course_id}"


def approval_request(employee_id: str, course_id: str, approver_id: str) -> str:
    """The request to one approver to decide on one course."""
    return f"{employee_id}:approval:{course_id}:{approver_id}"


def approval_escalation(employee_id: str, course_id: str, escalation: int) -> str:
    """The request to the next manager up after the approver did not answer."""
    return f"{employee_id}:escalation:{course_id}:{escalation}"


def reminder(employee_id: str, course_id: str, days_before: int) -> str:
    """The reminder `days_before` the due date."""
    return f"{employee_id}:reminder:{course_id}:{days_before}"


def overdue(employee_id: str, course_id: str) -> str:
    """The notice to the employee that a course is overdue."""
    return f"{employee_id}:overdue:{course_id}"


def overdue_escalation(employee_id: str, course_id: str) -> str:
    """The notice to the manager that a course is overdue."""
    return f"{employee_id}:overdue-escalation:{course_id}"
