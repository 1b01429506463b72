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
from activities.metrics import ENROLLMENTS, LMS_CALLS, LMS_ERRORS, LMS_SECONDS
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


def _call(operation: str, fn: Callable[[], T]) -> T:
    LMS_CALLS.labels(operation).inc()
    try:
        with LMS_SECONDS.labels(operation).time():
            return fn()
    except LmsError as err:
        LMS_ERRORS.labels(operation, err.code).inc()
        raise as_application_error(err) from None


def _count(enrollment: Enrollment) -> Enrollment:
    ENROLLMENTS.labels(enrollment.status).inc()
    return enrollment


class LmsActivities:
    """LMS side effects, idempotent on (employee, course)."""

    def __init__(self, lms: LmsPort) -> None:
        """Build the activities over an LMS adapter."""
        self._lms = lms

    @activity.defn(name="lms.enroll")
    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll; an LMS error that retrying cannot fix fails the item without retries."""
        try:
            return _count(_call("enroll", lambda: self._lms.enroll(req)))
        except ApplicationError:
            ENROLLMENTS.labels("error").inc()
            raise

    @activity.defn(name="lms.enroll_many")
    def enroll_many(self, req: BulkEnrollRequest) -> BulkEnrollResult:
        """Enroll a batch: permanent errors are reported per item, a transient one retries."""
        outcomes = _call("enroll_many", lambda: self._lms.enroll_many(req.requests))
        for o in outcomes:
            if o.enrollment is not None:
                ENROLLMENTS.labels(o.enrollment.status).inc()
            else:
                ENROLLMENTS.labels("error").inc()
                LMS_ERRORS.labels("enroll_many", o.error.code if o.error else "unknown").inc()
        return BulkEnrollResult(outcomes=outcomes)

    @activity.defn(name="lms.withdraw")
    def withdraw(self, key: EnrollmentKey) -> Enrollment | None:
        """Withdraw (idempotent); None when the employee was never enrolled."""
        return _call("withdraw", lambda: self._lms.withdraw(key.employee_id, key.course_id))

    @activity.defn(name="lms.status")
    def status(self, key: EnrollmentKey) -> Enrollment | None:
        """The enrollment of one employee in one course, None when there is none.

        Not called by a workflow yet: the Moodle catalog sync (issue 17) and the console use it.
        """
        return _call("status", lambda: self._lms.status(key.employee_id, key.course_id))

    @activity.defn(name="lms.catalog")
    def catalog(self) -> list[CatalogCourse]:
        """The LMS's courses, the skills they teach and their sessions.

        Not called by a workflow yet: the Moodle catalog sync (issue 17) takes the catalog from it.
        """
        return _call("catalog", self._lms.catalog)

    @activity.defn(name="lms.completions")
    def completions(self, req: CompletionsRequest) -> list[Completion]:
        """Completions recorded at or after ``req.since``.

        Not called by a workflow yet (the poll uses `CompletionPollActivities`): the Moodle
        completion sync at scale (issue 17) reads through it.
        """
        return _call("completions", lambda: self._lms.completions(req))
