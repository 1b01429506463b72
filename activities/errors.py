"""The failures activities raise and workflows read: every error type and code, named once.

An activity that fails for good raises a non-retryable `ApplicationError` whose ``type`` is a
`FailureType`; an LMS failure carries its `LmsCode` as the first detail. Workflows show a
failure to people with `failure_text`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from temporalio.exceptions import ActivityError, ApplicationError


class FailureType(StrEnum):
    """``ApplicationError.type`` of each kind of permanent activity failure."""

    BAD_ADDRESS = "BadAddress"
    """A recipient without a valid email address, or one the SMTP server refused."""
    UNKNOWN_EMPLOYEE = "UnknownEmployee"
    """An employee id the directory does not know."""
    LMS = "LmsError"
    """The LMS refused a call; ``details[0]`` is the `LmsCode`."""
    NOT_OUTBOUND = "NotOutbound"
    """An event handed to the outbound publisher whose type is not an outbound type."""
    SCHEMA_INVALID = "SchemaInvalid"
    """An outbound event that does not match its schema."""


class LmsCode(StrEnum):
    """What went wrong in an LMS call."""

    UNKNOWN_COURSE = "unknown_course"
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_SESSION = "unknown_session"
    INVALID_TOKEN = "invalid_token"
    ACCESS_DENIED = "access_denied"
    INVALID_REQUEST = "invalid_request"
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    NOT_ENROLLED = "not_enrolled"
    """Moodle ``usernotenroled``: not a tracked student (a teacher, a suspended enrolment)."""
    NO_COMPLETION_CRITERIA = "no_completion_criteria"
    """Moodle ``nocriteriaset``: completion tracking is on but the course has no criteria."""
    COMPLETION_NOT_VIEWABLE = "completion_not_viewable"
    """Moodle ``cannotviewreport``: completion tracking off, or no ``report/completion:view``."""


PERMANENT_LMS_CODES: Final = frozenset(
    {
        LmsCode.UNKNOWN_COURSE,
        LmsCode.UNKNOWN_USER,
        LmsCode.UNKNOWN_SESSION,
        LmsCode.INVALID_TOKEN,
        LmsCode.ACCESS_DENIED,
        LmsCode.INVALID_REQUEST,
        LmsCode.PROTOCOL,
        LmsCode.NOT_ENROLLED,
        LmsCode.NO_COMPLETION_CRITERIA,
        LmsCode.COMPLETION_NOT_VIEWABLE,
    }
)
"""LMS codes that trying again cannot fix (the plan item fails with the reason)."""
RETRYABLE_LMS_CODES: Final = frozenset(
    {LmsCode.TIMEOUT, LmsCode.UNAVAILABLE, LmsCode.RATE_LIMITED, LmsCode.CONFLICT}
)
"""LMS codes of transient trouble: timeouts, 5xx, rate limits, lock contention."""


def permanent(message: str, failure_type: FailureType, *details: Any) -> ApplicationError:
    """A failure that no retry can fix: the workflow records it and carries on."""
    return ApplicationError(message, *details, type=str(failure_type), non_retryable=True)


def failure_text(err: ActivityError) -> str:
    """What an activity failure says, in words for a timeline or a plan item."""
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(err)
