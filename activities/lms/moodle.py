"""The Moodle adapter: Moodle's Web Services REST protocol behind the LMS port.

Every call is ``POST {url}/webservice/rest/server.php`` with ``wstoken``, ``wsfunction`` and
``moodlewsrestformat=json`` and the function's parameters form-encoded the way Moodle expects
them (``enrolments[0][userid]=7``). Moodle answers errors with HTTP 200 and a body
``{"exception": ..., "errorcode": ..., "message": ...}``; `classify` maps those, HTTP
statuses and transport failures to `LmsError` codes (permanent or retryable).

Employees are Moodle users found by a configurable user field (``idnumber`` by default);
courses are Moodle courses found by a configurable course field (``idnumber`` by default),
whose value is the talentloop course id. The skills a course teaches come from a course
custom field and/or course tags through `SkillMapping`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx

from activities.errors import LmsCode
from activities.lms.ledger import OPEN, WITHDRAWN, EnrollmentLedger, TrackedEnrollment
from activities.lms.limits import CallGate
from activities.lms.port import LmsError, enroll_each
from schemas.learning import Enrollment, EnrollRequest
from schemas.lms import CatalogCourse, Completion, CompletionsRequest, EnrollOutcome

REST_PATH = "/webservice/rest/server.php"
"""Moodle's REST server script, relative to the site URL."""
STUDENT_ROLE_ID = 5
"""The id of Moodle's default "student" role."""

COMPETENCIES = "core_competency_list_course_competencies"
"""The function the catalog sync reads a course's competencies with (optional: a site
without competencies, or a service without it, maps skills from course metadata)."""
FUNCTIONS = (
    "core_course_get_courses_by_field",
    "core_course_search_courses",
    "core_user_get_users_by_field",
    "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users",
    "core_enrol_get_enrolled_users",
    "core_completion_get_course_completion_status",
)
"""The web service functions the adapter calls (grant them to the token's service)."""
SITE_INFO = "core_webservice_get_site_info"
"""The function `talentloop doctor` asks which functions the token may call (grant it too)."""
TRACKED_CAPABILITY = "moodle/course:isincompletionreports"
"""Moodle's capability of users whose completion a course tracks (students, not teachers)."""
SKIPPABLE = frozenset(
    {
        LmsCode.NOT_ENROLLED,
        LmsCode.NO_COMPLETION_CRITERIA,
        LmsCode.COMPLETION_NOT_VIEWABLE,
        LmsCode.UNKNOWN_USER,
        LmsCode.UNKNOWN_COURSE,
        LmsCode.ACCESS_DENIED,
        LmsCode.INVALID_REQUEST,
    }
)
"""Codes a completion check records and skips: one course's or user's state, not the site's."""
COURSE_WIDE = frozenset({LmsCode.NO_COMPLETION_CRITERIA, LmsCode.COMPLETION_NOT_VIEWABLE})
"""Codes that hold for every user of the course: the rest of the course is skipped too."""

log = logging.getLogger(__name__)

_RETRYABLE_ERRORCODES = {
    "sitemaintenance": "unavailable",
    "dbconnectionfailed": "unavailable",
    "dmlreadexception": "unavailable",
    "dmlwriteexception": "unavailable",
    "ddllocktimeout": "unavailable",
    "locktimeout": "unavailable",
}
_PERMANENT_ERRORCODES = {
    "invalidtoken": "invalid_token",
    "accessexception": "access_denied",
    "nopermissions": "access_denied",
    "wsaccessuserdeleted": "invalid_token",
    "wsaccessusersuspended": "invalid_token",
    "wsaccessuserexpired": "invalid_token",
    "wsaccessusernologin": "invalid_token",
    "servicerequireslogin": "access_denied",
    "wsnoinstance": "access_denied",
    "wscannotenrol": "access_denied",
    "requireloginerror": "access_denied",
    "coursehidden": "access_denied",
    "invalidparameter": "invalid_request",
    "invalidfunction": "access_denied",
    "invalidcourseid": "unknown_course",
    "invaliduser": "unknown_user",
    "invaliduserid": "unknown_user",
    "usernotincourse": "invalid_request",
    "wsusercannotassign": "access_denied",
    "usernotenroled": "not_enrolled",
    "nocriteriaset": "no_completion_criteria",
    "cannotviewreport": "completion_not_viewable",
}
_HINTS = {
    "wsusercannotassign": "the token's role may not assign the enrolment role: add it under "
    "Define roles → the role → Allow role assignments (docs/lms.md)",
    "cannotviewreport": "completion tracking is off in the course, or the token lacks "
    "report/completion:view",
    "nocriteriaset": "the course has completion tracking but no completion criteria",
    "usernotenroled": "not a tracked student of the course (another role, or suspended)",
}
MESSAGE_CHARS = 200
"""Longest Moodle message kept in an error (Temporal failures stay small)."""


def classify(body: Mapping[str, Any]) -> LmsError:
    """The `LmsError` of a Moodle exception body (``exception``, ``errorcode``, ``message``).

    Args:
        body: The decoded JSON of an HTTP-200 error answer.

    Returns:
        The classified error; unknown error codes are permanent ("invalid_request").
    """
    errorcode = str(body.get("errorcode") or "")
    exception = str(body.get("exception") or "")
    message = str(body.get("message") or errorcode or exception)[:MESSAGE_CHARS]
    text = f"moodle {exception or 'error'} {errorcode}: {message}"
    if errorcode in _HINTS:
        text = f"{text} ({_HINTS[errorcode]})"
    if errorcode in _RETRYABLE_ERRORCODES:
        return LmsError.of(_RETRYABLE_ERRORCODES[errorcode], text)
    if exception in ("dml_read_exception", "dml_write_exception", "dml_connection_exception"):
        return LmsError.of(LmsCode.UNAVAILABLE, text)
    if errorcode in _PERMANENT_ERRORCODES:
        return LmsError.of(_PERMANENT_ERRORCODES[errorcode], text)
    if errorcode == "invalidrecord" or exception == "dml_missing_record_exception":
        lowered = message.lower()
        if "table course" in lowered or "table context" in lowered:
            return LmsError.of(LmsCode.UNKNOWN_COURSE, text)
        if "table user" in lowered:
            return LmsError.of(LmsCode.UNKNOWN_USER, text)
    return LmsError.of(LmsCode.INVALID_REQUEST, text)


def encode_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Moodle's form encoding of nested parameters: ``users[0][username]=ada``.

    Args:
        params: Scalars, lists and mappings, nested.
        prefix: The enclosing parameter's name.

    Returns:
        Form fields in order; booleans become 1/0, None values are left out.
    """
    fields: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            fields.extend(encode_params(value, name))
        elif isinstance(value, list | tuple):
            fields.extend(encode_params({str(i): v for i, v in enumerate(value)}, name))
        elif isinstance(value, bool):
            fields.append((name, "1" if value else "0"))
        else:
            fields.append((name, str(value)))
    return fields


@dataclass(frozen=True)
class SkillMapping:
    """How a Moodle course's metadata names the skills it teaches.

    Attributes:
        custom_field: Shortname of a course custom field listing skills (comma-separated);
            None to ignore custom fields.
        values: Moodle value (custom-field entry or tag name) -> talentloop skill id; a value
            not in the map is taken as a skill id when it looks like one (has a ":"), else
            ignored.
        tags: Moodle tag id -> talentloop skill id; courses carrying the tag teach the skill
            (found with ``core_course_search_courses`` by ``tagid``).
    """

    custom_field: str | None = "skills"
    values: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[int, str] = field(default_factory=dict)
    courses: Mapping[str, tuple[tuple[str, float, float], ...]] = field(default_factory=dict)
    """talentloop course id -> (skill id, from level, to level): the mapping file's last word
    for courses Moodle's competencies and metadata say nothing about."""

    @classmethod
    def from_file(cls, path: Path, custom_field: str | None = "skills") -> SkillMapping:
        """Read a JSON mapping file of skills by Moodle value, tag id and course id.

        The shape: ``{"values": {name: skill}, "tags": {tag id: skill}, "courses":
        {course id: [{"skill": id, "from": 0, "to": 3}]}}``.

        Raises:
            ValueError: The file is missing, not JSON, or of the wrong shape.
        """
        try:
            doc = json.loads(path.read_text())
            courses = {
                str(course): tuple(
                    (str(t["skill"]), float(t.get("from", 0)), float(t.get("to", 3)))
                    for t in taught
                )
                for course, taught in dict(doc.get("courses", {})).items()
            }
            return cls(
                custom_field=custom_field,
                values={str(k): str(v) for k, v in dict(doc.get("values", {})).items()},
                tags={int(k): str(v) for k, v in dict(doc.get("tags", {})).items()},
                courses=courses,
            )
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            raise ValueError(f"skill mapping file {path}: {type(err).__name__}: {err}") from None

    def skill_for(self, value: str) -> str | None:
        """The skill id a Moodle value stands for, if any."""
        value = value.strip()
        if value in self.values:
            return self.values[value]
        return value if ":" in value else None


@dataclass(frozen=True)
class MoodleConfig:
    """Where Moodle is and how the adapter talks to it.

    Attributes:
        url: The site URL, e.g. ``https://moodle.example.com``.
        token: A web service token of a service granted `FUNCTIONS`.
        user_field: Moodle user field holding the employee id (idnumber, username, email).
        course_field: Moodle course field holding the talentloop course id (idnumber,
            shortname, id).
        role_id: The role given on enrolment (5: student).
        timeout_s: Seconds before a call counts as timed out (retryable).
        calls_per_second: Rate limit of this process's calls (0: unlimited).
        max_concurrent: Calls in flight at once from this process.
        timeend_days_after_due: When set, the enrolment ends this many days after its due
            date (``timeend``); by default it does not end.
        skills: How course metadata maps to skills.
    """

    url: str
    token: str
    user_field: str = "idnumber"
    course_field: str = "idnumber"
    role_id: int = STUDENT_ROLE_ID
    timeout_s: float = 20.0
    calls_per_second: float = 5.0
    max_concurrent: int = 4
    timeend_days_after_due: int | None = None
    skills: SkillMapping = field(default_factory=SkillMapping)
    course_fields: CourseFields = field(default_factory=lambda: CourseFields())


@dataclass(frozen=True)
class CourseFields:
    """Shortnames of the course custom fields the catalog sync reads.

    Attributes:
        hours: Learning hours (a number); a course without it is listed as unmapped.
        cost: Cost per learner (a number; 0 when absent).
        level_from: Level on talentloop's scale (O*NET 0-7) a learner needs to start.
        level_to: Level the course brings a learner to; needed for competencies and for
            skills named by the custom field or tags (a competency is only "proficient").
        prerequisites: Comma-separated talentloop course ids.
    """

    hours: str = "hours"
    cost: str = "cost"
    level_from: str = "level_from"
    level_to: str = "level_to"
    prerequisites: str = "prerequisites"


@dataclass(frozen=True)
class SyncedCourse:
    """A Moodle course as the planner needs it, and where its skills came from.

    Attributes:
        course_id: The talentloop course id (the configured course field).
        title: The course's full name.
        hours: Learning hours.
        cost: Cost per learner.
        prerequisites: talentloop course ids to complete first.
        teaches: (skill id, from level, to level) of each skill taught.
        skills_from: "competencies", "metadata" (custom field or tags) or "mapping file".
        external_id: Moodle's course id.
    """

    course_id: str
    title: str
    hours: float
    cost: float
    prerequisites: tuple[str, ...]
    teaches: tuple[tuple[str, float, float], ...]
    skills_from: str
    external_id: str


@dataclass(frozen=True)
class CatalogSync:
    """What Moodle offers: the courses the planner can use, and those it cannot, with why."""

    courses: list[SyncedCourse]
    unmapped: list[tuple[str, str]]
    """(Moodle course shortname, reason) of each course left out."""


ONET_ELEMENT = re.compile(r"^\d(\.[A-Za-z0-9]+)+$")
"""An O*NET content model element id (``2.B.3.e``), a competency idnumber naming a skill."""


def _number(value: object) -> float | None:
    try:
        return float(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def course_field_hidden(field_name: str) -> str:
    """Why no course shows ``field_name``, and the fix."""
    return (
        f"Moodle hides courses' {field_name} from the token: its role lacks "
        "moodle/course:update; grant it, or set TALENTLOOP_MOODLE_COURSE_FIELD=shortname "
        "(docs/lms.md)"
    )


def user_field_hidden(field_name: str) -> str:
    """Why no user shows ``field_name``, and the fix."""
    return (
        f"Moodle hides users' {field_name} from the token: its role lacks "
        "moodle/user:viewalldetails; grant it, or map users by a field the token can see "
        "(docs/lms.md)"
    )


def _transport_reason(err: httpx.TransportError) -> str:
    """A transport failure in a few words: "connection refused", "name or service not known"."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(err).strip().splitlines()[0] if str(err) else "")
    text = text or type(err).__name__
    return text[:1].lower() + text[1:80]


class MoodleLms:
    """The LMS port over Moodle Web Services (REST, JSON).

    With a ``ledger`` (the app database), every enrolment it makes is tracked until it
    completes or is withdrawn, and the completion poll asks Moodle only about those
    (`check_completion`); without one, `completions` asks about each course's active
    students.
    """

    name = "moodle"

    def __init__(
        self,
        config: MoodleConfig,
        *,
        client: httpx.Client | None = None,
        ledger: EnrollmentLedger | None = None,
    ) -> None:
        """Build the adapter; ``client`` lets the caller share or tune the HTTP client."""
        self.config = config
        self.ledger = ledger
        self._endpoint = config.url.rstrip("/") + REST_PATH
        self._http = client or httpx.Client(timeout=config.timeout_s)
        self.gate = CallGate(config.calls_per_second, config.max_concurrent)
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Any]] = {}
        self._courses: dict[str, dict[str, Any]] = {}
        self._user_field_hidden: bool | None = None
        self.skipped: list[tuple[str, str, str]] = []
        """(course id, employee id or "*", error code) of the last `completions` call."""

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    # -- the protocol ------------------------------------------------------------------

    def call(self, function: str, **params: Any) -> Any:
        """Call one web service function; its JSON answer, or an `LmsError`.

        Errors are short and carry no exception chain (a Temporal failure has a size limit):
        "Moodle unreachable: connection refused (enrol_manual_enrol_users)".

        Raises:
            LmsError: Classified: Moodle exceptions by error code, HTTP 429 "rate_limited",
                5xx "unavailable", timeouts "timeout" (all three retryable), other HTTP
                errors and malformed answers permanent.
        """
        form = [
            ("wstoken", self.config.token),
            ("wsfunction", function),
            ("moodlewsrestformat", "json"),
            *encode_params(params),
        ]
        with self.gate.call():
            try:
                resp = self._http.post(self._endpoint, data=dict(form))
            except httpx.TimeoutException:
                raise LmsError.of(
                    LmsCode.TIMEOUT,
                    f"Moodle timed out after {self.config.timeout_s:g} s ({function})",
                ) from None
            except httpx.TransportError as err:
                raise LmsError.of(
                    LmsCode.UNAVAILABLE,
                    f"Moodle unreachable: {_transport_reason(err)} ({function})",
                ) from None
        if resp.status_code == 429:
            raise LmsError.of(LmsCode.RATE_LIMITED, f"moodle {function}: HTTP 429")
        if resp.status_code == 408:
            raise LmsError.of(LmsCode.TIMEOUT, f"moodle {function}: HTTP 408")
        if resp.status_code >= 500:
            raise LmsError.of(LmsCode.UNAVAILABLE, f"moodle {function}: HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise LmsError.of(LmsCode.ACCESS_DENIED, f"moodle {function}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise LmsError.of(LmsCode.PROTOCOL, f"moodle {function}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            # An HTML page from a proxy or a PHP fatal error: the site is not itself.
            raise LmsError.of(
                LmsCode.UNAVAILABLE, f"moodle {function}: answer is not JSON"
            ) from None
        if isinstance(body, dict) and "exception" in body and "errorcode" in body:
            raise classify(body)
        return body

    def granted_functions(self) -> set[str]:
        """The web service functions the token's service may call.

        ``core_webservice_get_site_info`` lists them under ``functions`` (name and version).

        Raises:
            LmsError: As `call`; "protocol" when the answer has no function list.
        """
        body = self.call(SITE_INFO)
        functions = body.get("functions") if isinstance(body, dict) else None
        if not isinstance(functions, list):
            raise LmsError.of(LmsCode.PROTOCOL, f"{SITE_INFO}: no functions list")
        return {str(f.get("name")) for f in functions if isinstance(f, dict)}

    # -- what the token may see -------------------------------------------------------

    def hidden_fields(self) -> list[str]:
        """The configured course and user fields Moodle hides from the token, with the fix.

        Moodle returns a course's ``idnumber`` only to a role with ``moodle/course:update``
        (the key is left out otherwise), and a user's ``idnumber`` or ``username`` only with
        ``moodle/user:viewalldetails``; ``core_user_get_users_by_field`` then finds nobody.
        The courses are looked at directly; users through the participants of a few courses.

        Raises:
            LmsError: As `call`.
        """
        problems: list[str] = []
        courses = [c for c in self._courses_by("", "") if int(c.get("id", 0)) != 1]
        cfield = self.config.course_field
        if cfield == "idnumber" and courses and all(cfield not in c for c in courses):
            problems.append(course_field_hidden(cfield))
        if self._probe_user_field(courses):
            problems.append(user_field_hidden(self.config.user_field))
        return problems

    def _probe_user_field(self, courses: Sequence[Mapping[str, Any]] | None = None) -> bool:
        ufield = self.config.user_field
        if ufield not in ("idnumber", "username"):
            return False
        with self._lock:
            if self._user_field_hidden is not None:
                return self._user_field_hidden
        if courses is None:
            courses = [c for c in self._courses_by("", "") if int(c.get("id", 0)) != 1]
        hidden = False
        for c in courses[:5]:
            seen = self._enrolled_users(int(c["id"]), fields=f"id,{ufield}", limit=20)
            if seen:
                hidden = not any(u.get(ufield) for u in seen)
                break
        with self._lock:
            self._user_field_hidden = hidden
        return hidden

    # -- lookups -----------------------------------------------------------------------

    def user(self, employee_id: str) -> dict[str, Any]:
        """The Moodle user of an employee (cached).

        Raises:
            LmsError: "unknown_user"; "access_denied" when Moodle hides the user field from
                the token (then nobody could be found).
        """
        with self._lock:
            cached = self._users.get(employee_id)
        if cached is not None:
            return cached
        users = self.call(
            "core_user_get_users_by_field", field=self.config.user_field, values=[employee_id]
        )
        if not isinstance(users, list):
            raise LmsError.of(LmsCode.PROTOCOL, "core_user_get_users_by_field: expected a list")
        if not users:
            if self._probe_user_field():
                raise LmsError.of(LmsCode.ACCESS_DENIED, user_field_hidden(self.config.user_field))
            raise LmsError.of(
                LmsCode.UNKNOWN_USER, f"no Moodle user with {self.config.user_field}={employee_id}"
            )
        with self._lock:
            self._users[employee_id] = users[0]
        return dict(users[0])

    def course(self, course_id: str) -> dict[str, Any]:
        """The Moodle course of a talentloop course id (cached), or "unknown_course"."""
        with self._lock:
            cached = self._courses.get(course_id)
        if cached is not None:
            return cached
        courses = self._courses_by(self.config.course_field, course_id)
        if not courses:
            raise LmsError.of(
                LmsCode.UNKNOWN_COURSE,
                f"no Moodle course with {self.config.course_field}={course_id}",
            )
        with self._lock:
            self._courses[course_id] = courses[0]
        return courses[0]

    def _courses_by(self, field_name: str, value: str) -> list[dict[str, Any]]:
        body = self.call("core_course_get_courses_by_field", field=field_name, value=value)
        if not isinstance(body, dict) or not isinstance(body.get("courses"), list):
            raise LmsError.of(LmsCode.PROTOCOL, "core_course_get_courses_by_field: no courses list")
        return [c for c in body["courses"] if isinstance(c, dict)]

    def _course_key(self, course: Mapping[str, Any]) -> str | None:
        value = course.get(self.config.course_field)
        return str(value) if value not in (None, "") else None

    def _employee_of(self, user: Mapping[str, Any]) -> str | None:
        value = user.get(self.config.user_field)
        return str(value) if value not in (None, "") else None

    # -- the port ----------------------------------------------------------------------

    def mapped_courses(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Moodle's courses that carry a talentloop id, and those that do not (site page aside).

        Raises:
            LmsError: "access_denied" when Moodle hides the course field from the token.
        """
        courses = [c for c in self._courses_by("", "") if int(c.get("id", 0)) != 1]
        cfield = self.config.course_field
        if cfield == "idnumber" and courses and all(cfield not in c for c in courses):
            raise LmsError.of(LmsCode.ACCESS_DENIED, course_field_hidden(cfield))
        mapped = [c for c in courses if self._course_key(c) is not None]
        return mapped, [c for c in courses if self._course_key(c) is None]

    def catalog(self) -> list[CatalogCourse]:
        """Every course carrying a talentloop id, with the skills its metadata names.

        Raises:
            LmsError: "access_denied" when Moodle hides the course field from the token.
        """
        mapping = self.config.skills
        tagged: dict[int, set[str]] = {}
        for tag_id, skill in mapping.tags.items():
            body = self.call(
                "core_course_search_courses", criterianame="tagid", criteriavalue=str(tag_id)
            )
            for c in body.get("courses", []) if isinstance(body, dict) else []:
                tagged.setdefault(int(c["id"]), set()).add(skill)
        out: list[CatalogCourse] = []
        for c in self.mapped_courses()[0]:
            key = self._course_key(c)
            assert key is not None
            skills = set(tagged.get(int(c["id"]), set()))
            for cf in c.get("customfields") or []:
                if mapping.custom_field and cf.get("shortname") == mapping.custom_field:
                    raw = str(cf.get("valueraw") or cf.get("value") or "")
                    skills.update(s for v in raw.split(",") if (s := mapping.skill_for(v)))
            out.append(
                CatalogCourse(
                    course_id=key,
                    title=str(c.get("fullname") or c.get("displayname") or key),
                    source_lms=self.name,
                    skills=sorted(skills),
                    external_id=str(c["id"]),
                )
            )
        return out

    def _custom(self, course: Mapping[str, Any]) -> dict[str, str]:
        return {
            str(cf.get("shortname")): str(cf.get("valueraw") or cf.get("value") or "")
            for cf in course.get("customfields") or []
            if isinstance(cf, dict)
        }

    def _competency_skills(self, moodle_course: int) -> list[str] | None:
        """Skill ids of the course's competencies; None when competencies are not in use."""
        try:
            body = self.call(COMPETENCIES, id=moodle_course)
        except LmsError as err:
            if err.retryable:
                raise
            return None  # not granted, competencies disabled, or not allowed to view
        skills: list[str] = []
        for entry in body if isinstance(body, list) else []:
            comp = entry.get("competency") if isinstance(entry, dict) else None
            idnumber = str(comp.get("idnumber") or "") if isinstance(comp, dict) else ""
            if ":" in idnumber:
                skills.append(idnumber)
            elif ONET_ELEMENT.match(idnumber):
                skills.append(f"onet:{idnumber}")
            elif idnumber and (mapped := self.config.skills.skill_for(idnumber)):
                skills.append(mapped)
        return skills or None

    def sync_catalog(self) -> CatalogSync:
        """Moodle's courses with what the planner needs; courses it cannot map are listed.

        The skills of a course come from the first source that names any: its competencies
        (``core_competency_list_course_competencies``; a competency's idnumber is the skill
        id or an O*NET element id), then its custom field or tags (`SkillMapping`), then
        the mapping file (`SkillMapping.courses`, which also carries levels). Levels of
        the first two come from the course's ``level_from`` / ``level_to`` custom fields.

        Raises:
            LmsError: Retryable trouble, or "access_denied" when the course field is hidden.
        """
        mapping, names = self.config.skills, self.config.course_fields
        tagged: dict[int, set[str]] = {}
        for tag_id, skill in mapping.tags.items():
            body = self.call(
                "core_course_search_courses", criterianame="tagid", criteriavalue=str(tag_id)
            )
            for c in body.get("courses", []) if isinstance(body, dict) else []:
                tagged.setdefault(int(c["id"]), set()).add(skill)
        mapped, without_id = self.mapped_courses()
        unmapped = [
            (str(c.get("shortname") or c["id"]), f"no {self.config.course_field}")
            for c in without_id
        ]
        out: list[SyncedCourse] = []
        for c in mapped:
            key = self._course_key(c)
            assert key is not None
            custom = self._custom(c)
            label = str(c.get("shortname") or key)
            hours = _number(custom.get(names.hours))
            if hours is None or hours <= 0:
                unmapped.append((label, f"no hours (custom field {names.hours})"))
                continue
            level_from = _number(custom.get(names.level_from)) or 0.0
            level_to = _number(custom.get(names.level_to))
            teaches: tuple[tuple[str, float, float], ...] = ()
            source = ""
            competencies = self._competency_skills(int(c["id"]))
            named = set(tagged.get(int(c["id"]), set()))
            if mapping.custom_field:
                raw = custom.get(mapping.custom_field, "")
                named.update(s for v in raw.split(",") if (s := mapping.skill_for(v)))
            for source, skills in (("competencies", competencies), ("metadata", named)):
                if skills:
                    if level_to is None or level_to <= level_from:
                        teaches = ()
                        unmapped.append(
                            (
                                label,
                                f"skills from {source} but no level (custom field "
                                f"{names.level_to})",
                            )
                        )
                    else:
                        teaches = tuple((sk, level_from, level_to) for sk in sorted(skills))
                    break
            else:
                if key in mapping.courses:
                    source, teaches = "mapping file", tuple(mapping.courses[key])
                else:
                    unmapped.append((label, "no skills (competencies, custom field, tags or file)"))
            if not teaches:
                continue
            prereq = custom.get(names.prerequisites, "")
            out.append(
                SyncedCourse(
                    course_id=key,
                    title=str(c.get("fullname") or c.get("displayname") or key),
                    hours=hours,
                    cost=_number(custom.get(names.cost)) or 0.0,
                    prerequisites=tuple(p.strip() for p in prereq.split(",") if p.strip()),
                    teaches=teaches,
                    skills_from=source,
                    external_id=str(c["id"]),
                )
            )
        return CatalogSync(out, unmapped)

    def _enrollment(
        self, employee_id: str, course_id: str, moodle_course: int, moodle_user: int, **kw: Any
    ) -> Enrollment:
        values: dict[str, Any] = {
            "enrollment_id": enrollment_id(moodle_course, moodle_user),
            "employee_id": employee_id,
            "course_id": course_id,
            "status": "enrolled",
            "due": None,
            "reason": "",
            "source_event": "",
            "created_at": datetime.now(UTC),
        }
        values.update(kw)
        return Enrollment.model_validate(values)

    def _track(self, employee_id: str, course_id: str, cid: int, uid: int) -> None:
        if self.ledger is not None:
            self.ledger.track(
                TrackedEnrollment(
                    enrollment_id(cid, uid), employee_id, course_id, str(cid), str(uid)
                )
            )

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enrol with the manual enrolment method; an existing enrolment is returned as is.

        Moodle's ``enrol_manual_enrol_users`` on an existing enrolment rewrites its start
        date and re-activates it (a teacher's suspension undone), so it is sent only when the
        user is not a participant of the course yet (in any role, active or suspended).
        """
        course = self.course(req.course_id)
        user = self.user(req.employee_id)
        cid, uid = int(course["id"]), int(user["id"])
        kw: dict[str, Any] = {
            "due": req.due,
            "reason": req.reason,
            "source_event": req.source_event,
        }
        if self.ledger is not None:
            known = self.ledger.get(enrollment_id(cid, uid))
            if known is not None and known.state == OPEN:
                return self._enrollment(req.employee_id, req.course_id, cid, uid, **kw)
        if uid in {int(u["id"]) for u in self._enrolled_users(cid)}:
            self._track(req.employee_id, req.course_id, cid, uid)
            return self._enrollment(req.employee_id, req.course_id, cid, uid, **kw)
        now = datetime.now(UTC)
        enrolment: dict[str, Any] = {
            "roleid": self.config.role_id,
            "userid": uid,
            "courseid": cid,
            "timestart": _epoch(now),
        }
        if req.due is not None and self.config.timeend_days_after_due is not None:
            end = _end_of(req.due) + timedelta(days=self.config.timeend_days_after_due)
            enrolment["timeend"] = _epoch(end)
        self.call("enrol_manual_enrol_users", enrolments=[enrolment])
        self._track(req.employee_id, req.course_id, cid, uid)
        return self._enrollment(req.employee_id, req.course_id, cid, uid, created_at=now, **kw)

    def enroll_many(self, reqs: Sequence[EnrollRequest]) -> list[EnrollOutcome]:
        """Enroll each; permanent errors fail their item, a retryable one is raised after."""
        return enroll_each(self.enroll, reqs)

    def _enrolled_users(
        self,
        moodle_course: int,
        *,
        fields: str | None = None,
        tracked_only: bool = False,
        limit: int = 0,
    ) -> list[dict[str, Any]]:
        options: list[dict[str, Any]] = [
            {"name": "userfields", "value": fields or f"id,{self.config.user_field}"}
        ]
        if tracked_only:
            # Active enrolments of users whose completion the course tracks (students).
            options += [
                {"name": "onlyactive", "value": 1},
                {"name": "withcapability", "value": TRACKED_CAPABILITY},
            ]
        if limit:
            options.append({"name": "limitnumber", "value": limit})
        users = self.call("core_enrol_get_enrolled_users", courseid=moodle_course, options=options)
        if not isinstance(users, list):
            raise LmsError.of(LmsCode.PROTOCOL, "core_enrol_get_enrolled_users: expected a list")
        return [u for u in users if isinstance(u, dict)]

    def withdraw(self, employee_id: str, course_id: str) -> Enrollment | None:
        """Unenrol (manual method); None when the employee was not enrolled.

        Whether the employee is enrolled comes from the course's participants (any role,
        active or suspended), never from the completion status, which Moodle refuses for
        courses without completion tracking or criteria and for suspended enrolments.
        """
        course, user = self.course(course_id), self.user(employee_id)
        cid, uid = int(course["id"]), int(user["id"])
        if uid not in {int(u["id"]) for u in self._enrolled_users(cid)}:
            if self.ledger is not None:
                self.ledger.close([enrollment_id(cid, uid)], WITHDRAWN)
            return None
        self.call(
            "enrol_manual_unenrol_users",
            enrolments=[{"userid": uid, "courseid": cid, "roleid": self.config.role_id}],
        )
        if self.ledger is not None:
            self.ledger.close([enrollment_id(cid, uid)], WITHDRAWN)
        return self._enrollment(employee_id, course_id, cid, uid, status="withdrawn")

    def _completion(self, moodle_course: int, moodle_user: int) -> tuple[bool, datetime | None]:
        body = self.call(
            "core_completion_get_course_completion_status",
            courseid=moodle_course,
            userid=moodle_user,
        )
        status = body.get("completionstatus") if isinstance(body, dict) else None
        if not isinstance(status, dict):
            raise LmsError.of(
                LmsCode.PROTOCOL, "core_completion_get_course_completion_status: shape"
            )
        if not status.get("completed"):
            return False, None
        times = [
            int(c["timecompleted"])
            for c in status.get("completions") or []
            if isinstance(c, dict) and c.get("timecompleted")
        ]
        return True, datetime.fromtimestamp(max(times), UTC) if times else datetime.now(UTC)

    def check_completion(self, t: TrackedEnrollment) -> datetime | None:
        """When a tracked enrolment was completed, None while it is not (one call).

        Raises:
            LmsError: As `call`; Moodle's ``usernotenroled``, ``nocriteriaset`` and
                ``cannotviewreport`` as their own codes (see `SKIPPABLE`).
        """
        done, when = self._completion(int(t.external_course), int(t.external_user))
        return when if done else None

    def status(self, employee_id: str, course_id: str) -> Enrollment | None:
        """Enrolled or completed (per Moodle's course completion), or None.

        A course without completion tracking or criteria, or an enrolment Moodle does not
        track (suspended), reads as "enrolled".
        """
        course, user = self.course(course_id), self.user(employee_id)
        cid, uid = int(course["id"]), int(user["id"])
        if uid not in {int(u["id"]) for u in self._enrolled_users(cid)}:
            return None
        try:
            done, when = self._completion(cid, uid)
        except LmsError as err:
            if err.code not in COURSE_WIDE and err.code != LmsCode.NOT_ENROLLED:
                raise
            done, when = False, None
        return self._enrollment(
            employee_id,
            course_id,
            cid,
            uid,
            status="completed" if done else "enrolled",
            completed_at=when,
        )

    def enrollments(self, employee_id: str) -> list[Enrollment]:
        """The employee's enrollments in the courses the adapter has looked up."""
        with self._lock:
            known = list(self._courses)
        return [e for c in known if (e := self.status(employee_id, c)) is not None]

    def completions(self, req: CompletionsRequest) -> list[Completion]:
        """Completions at or after ``req.since`` of the given (or all catalog) courses.

        Moodle has no "completions since" function: this asks, for each course, the
        completion status of its active students (``core_enrol_get_enrolled_users`` with
        ``onlyactive`` and ``moodle/course:isincompletionreports``; teachers and suspended
        enrolments are not asked). A course's or user's error (no completion tracking, no
        criteria, a user Moodle does not track) is recorded in `skipped` and the rest goes
        on; only a retryable error (the site down) is raised.

        Raises:
            LmsError: Retryable trouble; "invalid_request" when there is no course to poll,
                "access_denied" when Moodle hides the course field from the token.
        """
        course_ids = req.course_ids
        if course_ids is None:
            course_ids = [c.course_id for c in self.catalog()]
            if not course_ids:
                raise LmsError.of(
                    LmsCode.INVALID_REQUEST,
                    f"no Moodle course carries a talentloop id in {self.config.course_field}: "
                    "the completion poll sees no course (docs/lms.md, Map ids)",
                )
        wanted = set(req.employee_ids) if req.employee_ids is not None else None
        found: list[Completion] = []
        skipped: list[tuple[str, str, str]] = []
        for course_id in course_ids:
            try:
                course = self.course(course_id)
                users = self._enrolled_users(int(course["id"]), tracked_only=True)
            except LmsError as err:
                if err.retryable or err.code in (LmsCode.ACCESS_DENIED, LmsCode.INVALID_TOKEN):
                    raise  # the token's rights, not one course: every course would fail
                skipped.append((course_id, "*", err.code))
                continue
            for user in users:
                employee = self._employee_of(user)
                if employee is None or (wanted is not None and employee not in wanted):
                    continue
                try:
                    done, when = self._completion(int(course["id"]), int(user["id"]))
                except LmsError as err:
                    if err.retryable or err.code not in SKIPPABLE:
                        raise
                    if err.code in COURSE_WIDE:
                        skipped.append((course_id, "*", err.code))
                        break
                    skipped.append((course_id, employee, err.code))
                    continue
                if done and when is not None and when >= req.since:
                    found.append(
                        Completion(
                            enrollment_id=enrollment_id(int(course["id"]), int(user["id"])),
                            employee_id=employee,
                            course_id=course_id,
                            completed_at=when,
                            source_lms=self.name,
                        )
                    )
        self.skipped = skipped
        for course_id, employee, code in skipped:
            log.warning(
                "moodle completions: skipped course %s user %s: %s", course_id, employee, code
            )
        found.sort(key=lambda c: (c.completed_at, c.enrollment_id))
        return found[: req.limit]


def enrollment_id(moodle_course: int, moodle_user: int) -> str:
    """The enrollment id of a Moodle user's enrolment in a Moodle course."""
    return f"moodle-{moodle_course}-{moodle_user}"
