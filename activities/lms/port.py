"""The one port every LMS adapter implements (built-in tables, Moodle, ...)."""

from __future__ import annotations

from typing import Protocol

from schemas.learning import Enrollment, EnrollRequest


class LmsError(Exception):
    """An LMS refused a call; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        """Classify the error as retryable (timeouts, 5xx) or not (unknown course or user)."""
        super().__init__(message)
        self.retryable = retryable


class LmsPort(Protocol):
    """What talentloop needs of an LMS."""

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll; an existing enrollment of the same employee and course is returned as is."""
        ...

    def enrollments(self, employee_id: str) -> list[Enrollment]:
        """The employee's enrollments, all statuses."""
        ...
