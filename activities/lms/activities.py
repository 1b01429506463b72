"""LMS activities: enroll, withdraw, status, catalog and completions through one adapter.

Every activity runs through whichever adapter the worker built them with (`BuiltinLms`,
`MoodleLms`, ...). An `LmsError` becomes an `ApplicationError` of type ``LmsError`` whose
first detail is the error code; permanent errors (unknown course or user, bad token) are
non-retryable, so the plan item fails with the reason instead of retrying forever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import FailureType
from activities.lms.port import LmsError, LmsPort
from schemas.learning import Enrollment, EnrollRequest
from schemas.lms import (
    BulkEnrollRequest,
    BulkEnrollResult,
    CatalogCourse,
    Completion,
    CompletionsRequest,
    EnrollmentKey,
)

T = TypeVar("T")


def as_application_error(err: LmsError) -> ApplicationError:
    """The Temporal failure of an LMS error: non-retryable unless retrying can help."""
    return ApplicationError(
        f"{err.code}: {err}", err.code, type=FailureType.LMS, non_retryable=not err.retryable
    )


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except LmsError as err:
        raise as_application_error(err) from None


class LmsActivities:
    """LMS side effects, idempotent on (employee, course)."""

    def __init__(self, lms: LmsPort) -> None:
        """Build the activities over an LMS adapter."""
        self._lms = lms

    @activity.defn(name="lms.enroll")
    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll; an LMS error that retrying cannot fix fails the item without retries."""
        return _call(lambda: self._lms.enroll(req))

    @activity.defn(name="lms.enroll_many")
    def enroll_many(self, req: BulkEnrollRequest) -> BulkEnrollResult:
        """Enroll a batch: permanent errors are reported per item, a transient one retries."""
        return BulkEnrollResult(outcomes=_call(lambda: self._lms.enroll_many(req.requests)))

    @activity.defn(name="lms.withdraw")
    def withdraw(self, key: EnrollmentKey) -> Enrollment | None:
        """Withdraw (idempotent); None when the employee was never enrolled."""
        return _call(lambda: self._lms.withdraw(key.employee_id, key.course_id))

    @activity.defn(name="lms.status")
    def status(self, key: EnrollmentKey) -> Enrollment | None:
        """The enrollment of one employee in one course, None when there is none.

        Not called by a workflow yet: the Moodle catalog sync (issue 17) and the console use it.
        """
        return _call(lambda: self._lms.status(key.employee_id, key.course_id))

    @activity.defn(name="lms.catalog")
    def catalog(self) -> list[CatalogCourse]:
        """The LMS's courses, the skills they teach and their sessions.

        Not called by a workflow yet: the Moodle catalog sync (issue 17) takes the catalog from it.
        """
        return _call(self._lms.catalog)

    @activity.defn(name="lms.completions")
    def completions(self, req: CompletionsRequest) -> list[Completion]:
        """Completions recorded at or after ``req.since``.

        Not called by a workflow yet (the poll uses `CompletionPollActivities`): the Moodle
        completion sync at scale (issue 17) reads through it.
        """
        return _call(lambda: self._lms.completions(req))
