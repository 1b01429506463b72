"""The one port every LMS adapter implements (built-in tables, Moodle, ...), and its errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from activities.errors import RETRYABLE_LMS_CODES
from activities.lms.ledger import EnrollmentLedger, TrackedEnrollment
from schemas.learning import Enrollment, EnrollRequest
from schemas.lms import CatalogCourse, Completion, CompletionsRequest, EnrollOutcome, LmsFailure


class LmsError(Exception):
    """An LMS refused a call; ``retryable`` says whether trying again can help.

    Attributes:
        code: What went wrong, e.g. "unknown_course", "unknown_user", "invalid_token",
            "timeout", "unavailable" (5xx), "rate_limited".
        retryable: True for transient trouble (timeouts, 5xx, rate limits), False for errors
            only a change of data or configuration fixes (unknown course or user, bad token).
    """

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        """Classify the error as retryable (timeouts, 5xx) or not (unknown course or user)."""
        super().__init__(message)
        self.retryable = retryable
        self.code = code or ("unavailable" if retryable else "invalid_request")

    @classmethod
    def of(cls, code: str, message: str) -> LmsError:
        """An error whose retryability follows from its code (unknown codes are permanent)."""
        return cls(message, retryable=code in RETRYABLE_LMS_CODES, code=code)

    def failure(self) -> LmsFailure:
        """The error as a bulk-call item failure."""
        return LmsFailure(code=self.code, message=str(self), retryable=self.retryable)


class LmsPort(Protocol):
    """What talentloop needs of an LMS."""

    @property
    def name(self) -> str:
        """The LMS's name in events and logs ("builtin", "moodle")."""
        ...

    def catalog(self) -> list[CatalogCourse]:
        """Every course with the skills it teaches and its sessions (seats, waitlist)."""
        ...

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll; an existing enrollment of the same employee and course is returned as is."""
        ...

    def enroll_many(self, reqs: Sequence[EnrollRequest]) -> list[EnrollOutcome]:
        """Enroll each; a permanent error fails its item only, a retryable one is raised."""
        ...

    def withdraw(self, employee_id: str, course_id: str) -> Enrollment | None:
        """Withdraw (a freed seat goes to the first waitlisted); None when never enrolled."""
        ...

    def status(self, employee_id: str, course_id: str) -> Enrollment | None:
        """The employee's enrollment in the course, None when there is none."""
        ...

    def enrollments(self, employee_id: str) -> list[Enrollment]:
        """The employee's enrollments, all statuses."""
        ...

    def completions(self, req: CompletionsRequest) -> list[Completion]:
        """Completions recorded at or after ``req.since``, oldest first."""
        ...


@runtime_checkable
class TrackedCompletions(Protocol):
    """An LMS polled enrolment by enrolment (Moodle): those it made, kept in a ledger."""

    @property
    def name(self) -> str:
        """The LMS's name."""
        ...

    @property
    def ledger(self) -> EnrollmentLedger | None:
        """The enrolments the adapter made and that are still open; None: not tracked."""
        ...

    def check_completion(self, t: TrackedEnrollment) -> datetime | None:
        """When the enrolment was completed; None while it is not (one call to the LMS)."""
        ...


def enroll_each(
    enroll: Callable[[EnrollRequest], Enrollment], reqs: Sequence[EnrollRequest]
) -> list[EnrollOutcome]:
    """Bulk enrollment over single calls: permanent errors per item, retryable ones raised.

    Every item is attempted before a retryable error is raised, so that a retry of the batch
    (idempotent for the items already done) has as little left to do as possible.

    Args:
        enroll: One enrollment (an adapter's `enroll`, or one inside a transaction).
        reqs: The enrollments to make.

    Returns:
        One outcome per request, in order.

    Raises:
        LmsError: The first retryable error, after every item was attempted.
    """
    outcomes: list[EnrollOutcome] = []
    transient: LmsError | None = None
    for req in reqs:
        try:
            outcomes.append(
                EnrollOutcome(
                    employee_id=req.employee_id, course_id=req.course_id, enrollment=enroll(req)
                )
            )
        except LmsError as err:
            if err.retryable and transient is None:
                transient = err
            outcomes.append(
                EnrollOutcome(
                    employee_id=req.employee_id, course_id=req.course_id, error=err.failure()
                )
            )
    if transient is not None:
        raise transient
    return outcomes
