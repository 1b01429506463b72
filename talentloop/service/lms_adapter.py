"""The LMS adapter a deployment's settings name, built with everything it needs."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from activities.lms.builtin import BuiltinLms
from activities.lms.ledger import EnrollmentLedger
from activities.lms.moodle import MoodleConfig, MoodleLms, SkillMapping
from activities.lms.port import LmsError, LmsPort
from talentloop.service.config import Settings

log = logging.getLogger(__name__)


def moodle_config(settings: Settings) -> MoodleConfig:
    """The Moodle adapter's configuration from the settings (``TALENTLOOP_MOODLE_*``).

    The per-process rate limit is ``moodle_calls_per_second`` (on by default), never above
    ``lms_rate_limit`` (the whole deployment's) when that is set.

    Raises:
        ValueError: No site URL or token, or an unreadable skill mapping file.
    """
    if not settings.moodle_url or not settings.moodle_token:
        raise ValueError("the Moodle adapter needs TALENTLOOP_MOODLE_URL and _MOODLE_TOKEN")
    rate = settings.moodle_calls_per_second
    if settings.lms_rate_limit is not None:
        rate = min(rate, settings.lms_rate_limit) if rate > 0 else settings.lms_rate_limit
    skills = SkillMapping(custom_field=settings.moodle_skill_field)
    if settings.moodle_skill_map is not None:
        skills = SkillMapping.from_file(settings.moodle_skill_map, settings.moodle_skill_field)
    return MoodleConfig(
        url=settings.moodle_url,
        token=settings.moodle_token.get_secret_value(),
        user_field=settings.moodle_user_field,
        course_field=settings.moodle_course_field,
        role_id=settings.moodle_role_id,
        timeout_s=settings.moodle_timeout_s,
        calls_per_second=rate,
        max_concurrent=settings.lms_max_concurrency,
        timeend_days_after_due=settings.moodle_timeend_days_after_due,
        skills=skills,
    )


def lms_port(
    settings: Settings, sessions: sessionmaker[Session], *, check_fields: bool = False
) -> LmsPort:
    """The LMS adapter the settings name: the built-in LMS, or Moodle over its REST API.

    The Moodle adapter tracks the enrolments it makes in the app database, so the
    completion poll asks Moodle only about those still open. With ``check_fields`` (a
    worker starting), a background check warns when Moodle hides the id fields.
    """
    if settings.lms_adapter == "builtin":
        return BuiltinLms(sessions)
    moodle = MoodleLms(moodle_config(settings), ledger=EnrollmentLedger(sessions, MoodleLms.name))
    if check_fields:
        threading.Thread(target=warn_hidden_fields, args=(moodle,), daemon=True).start()
    return moodle


def warn_hidden_fields(moodle: MoodleLms) -> list[str]:
    """Log a warning for each id field Moodle hides from the token (at start, best effort)."""
    try:
        problems = moodle.hidden_fields()
    except LmsError as err:
        log.warning("moodle: could not check the id fields at start: %s", err.code)
        return []
    for problem in problems:
        log.warning("moodle: %s", problem)
    return problems
