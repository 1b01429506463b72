"""LMS activities: enroll through whichever adapter the worker was built with."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.lms.port import LmsError, LmsPort
from schemas.learning import Enrollment, EnrollRequest


class LmsActivities:
    """Enrollment side effects, idempotent on (employee, course)."""

    def __init__(self, lms: LmsPort) -> None:
        """Build the activities over an LMS adapter."""
        self._lms = lms

    @activity.defn(name="lms.enroll")
    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enroll; an LMS error that retrying cannot fix fails the item without retries."""
        try:
            return self._lms.enroll(req)
        except LmsError as err:
            raise ApplicationError(
                str(err), type="LmsError", non_retryable=not err.retryable
            ) from err
