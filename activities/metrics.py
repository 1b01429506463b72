"""Prometheus metrics of the activities (the worker process): enrollments, emails, LMS calls.

Defined here, beside the activities that count them, on the client's default registry; the
worker serves them (``talentloop.service.metrics``). Labels carry ids, outcomes and codes,
never names or addresses.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ENROLLMENTS = Counter(
    "talentloop_enrollments",
    "Enrollments the LMS answered, by outcome (enrolled, waitlisted, ... or the error code).",
    ["outcome"],
)
EMAILS = Counter(
    "talentloop_emails",
    "Notification emails by template and outcome (sent, duplicate, failed).",
    ["template", "outcome"],
)
LMS_CALLS = Counter(
    "talentloop_lms_calls", "Calls to the LMS adapter, by operation.", ["operation"]
)
LMS_ERRORS = Counter(
    "talentloop_lms_errors",
    "LMS calls that failed, by operation and error code.",
    ["operation", "code"],
)
LMS_SECONDS = Histogram(
    "talentloop_lms_call_seconds", "Duration of LMS adapter calls, by operation.", ["operation"]
)
ROLLOUT_SIGNALS = Counter(
    "talentloop_rollout_signals",
    "Employees a rollout signalled, by objective set, version and outcome (signalled, failed).",
    ["objective_set", "version", "outcome"],
)
