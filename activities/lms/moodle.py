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

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from activities.errors import LmsCode
from activities.lms.limits import CallGate
from activities.lms.port import LmsError, enroll_each
from schemas.learning import Enrollment, EnrollRequest
from schemas.lms import CatalogCourse, Completion, CompletionsRequest, EnrollOutcome

REST_PATH = "/webservice/rest/server.php"
"""Moodle's REST server script, relative to the site URL."""
STUDENT_ROLE_ID = 5
"""The id of Moodle's default "student" role."""

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
    "completionnotenabled": "invalid_request",
    "nottracked": "invalid_request",
}


def classify(body: Mapping[str, Any]) -> LmsError:
    """The `LmsError` of a Moodle exception body (``exception``, ``errorcode``, ``message``).

    Args:
        body: The decoded JSON of an HTTP-200 error answer.

    Returns:
        The classified error; unknown error codes are permanent ("invalid_request").
    """
    errorcode = str(body.get("errorcode") or "")
    exception = str(body.get("exception") or "")
    message = str(body.get("message") or errorcode or exception)
    text = f"moodle {exception or 'error'} {errorcode}: {message}"
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


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


class MoodleLms:
    """The LMS port over Moodle Web Services (REST, JSON)."""

    name = "moodle"

    def __init__(self, config: MoodleConfig, *, client: httpx.Client | None = None) -> None:
        """Build the adapter; ``client`` lets the caller share or tune the HTTP client."""
        self.config = config
        self._endpoint = config.url.rstrip("/") + REST_PATH
        self._http = client or httpx.Client(timeout=config.timeout_s)
        self.gate = CallGate(config.calls_per_second, config.max_concurrent)
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Any]] = {}
        self._courses: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    # -- the protocol ------------------------------------------------------------------

    def call(self, function: str, **params: Any) -> Any:
        """Call one web service function; its JSON answer, or an `LmsError`.

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
            except httpx.TimeoutException as err:
                raise LmsError.of(LmsCode.TIMEOUT, f"moodle {function}: timed out ({err})") from err
            except httpx.TransportError as err:
                raise LmsError.of(LmsCode.UNAVAILABLE, f"moodle {function}: {err}") from err
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
        except ValueError as err:
            # An HTML page from a proxy or a PHP fatal error: the site is not itself.
            raise LmsError.of(
                LmsCode.UNAVAILABLE, f"moodle {function}: answer is not JSON"
            ) from err
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

    # -- lookups -----------------------------------------------------------------------

    def user(self, employee_id: str) -> dict[str, Any]:
        """The Moodle user of an employee (cached), or "unknown_user"."""
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

    def catalog(self) -> list[CatalogCourse]:
        """Every course carrying a talentloop id, with the skills its metadata names."""
        mapping = self.config.skills
        tagged: dict[int, set[str]] = {}
        for tag_id, skill in mapping.tags.items():
            body = self.call(
                "core_course_search_courses", criterianame="tagid", criteriavalue=str(tag_id)
            )
            for c in body.get("courses", []) if isinstance(body, dict) else []:
                tagged.setdefault(int(c["id"]), set()).add(skill)
        out: list[CatalogCourse] = []
        for c in self._courses_by("", ""):
            key = self._course_key(c)
            if key is None or int(c.get("id", 0)) == 1:  # course 1 is the site front page
                continue
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

    def _enrollment(
        self, employee_id: str, course_id: str, moodle_course: int, moodle_user: int, **kw: Any
    ) -> Enrollment:
        values: dict[str, Any] = {
            "enrollment_id": f"moodle-{moodle_course}-{moodle_user}",
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

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Enrol with the manual enrolment method (Moodle keeps one enrolment per user)."""
        course = self.course(req.course_id)
        user = self.user(req.employee_id)
        now = datetime.now(UTC)
        enrolment: dict[str, Any] = {
            "roleid": self.config.role_id,
            "userid": int(user["id"]),
            "courseid": int(course["id"]),
            "timestart": _epoch(now),
        }
        if req.due is not None and self.config.timeend_days_after_due is not None:
            end = _end_of(req.due) + timedelta(days=self.config.timeend_days_after_due)
            enrolment["timeend"] = _epoch(end)
        self.call("enrol_manual_enrol_users", enrolments=[enrolment])
        return self._enrollment(
            req.employee_id,
            req.course_id,
            int(course["id"]),
            int(user["id"]),
            due=req.due,
            reason=req.reason,
            source_event=req.source_event,
            created_at=now,
        )

    def enroll_many(self, reqs: Sequence[EnrollRequest]) -> list[EnrollOutcome]:
        """Enroll each; permanent errors fail their item, a retryable one is raised after."""
        return enroll_each(self.enroll, reqs)

    def _enrolled_users(self, moodle_course: int) -> list[dict[str, Any]]:
        users = self.call(
            "core_enrol_get_enrolled_users",
            courseid=moodle_course,
            options=[{"name": "userfields", "value": f"id,{self.config.user_field}"}],
        )
        if not isinstance(users, list):
            raise LmsError.of(LmsCode.PROTOCOL, "core_enrol_get_enrolled_users: expected a list")
        return [u for u in users if isinstance(u, dict)]

    def withdraw(self, employee_id: str, course_id: str) -> Enrollment | None:
        """Unenrol (manual method); None when the employee was not enrolled."""
        current = self.status(employee_id, course_id)
        if current is None:
            return None
        course, user = self.course(course_id), self.user(employee_id)
        self.call(
            "enrol_manual_unenrol_users",
            enrolments=[
                {
                    "userid": int(user["id"]),
                    "courseid": int(course["id"]),
                    "roleid": self.config.role_id,
                }
            ],
        )
        return current.model_copy(update={"status": "withdrawn"})

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
        return True, datetime.fromtimestamp(max(times), UTC) if times else None

    def status(self, employee_id: str, course_id: str) -> Enrollment | None:
        """Enrolled or completed (per Moodle's course completion), or None."""
        course, user = self.course(course_id), self.user(employee_id)
        ids = {int(u["id"]) for u in self._enrolled_users(int(course["id"]))}
        if int(user["id"]) not in ids:
            return None
        done, when = self._completion(int(course["id"]), int(user["id"]))
        return self._enrollment(
            employee_id,
            course_id,
            int(course["id"]),
            int(user["id"]),
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

        Moodle has no "completions since" function: this asks each enrolled user's course
        completion status, within the rate limit; pass ``course_ids`` / ``employee_ids``
        to keep the number of calls down.
        """
        course_ids = req.course_ids or [c.course_id for c in self.catalog()]
        wanted = set(req.employee_ids) if req.employee_ids is not None else None
        found: list[Completion] = []
        for course_id in course_ids:
            course = self.course(course_id)
            for user in self._enrolled_users(int(course["id"])):
                employee = self._employee_of(user)
                if employee is None or (wanted is not None and employee not in wanted):
                    continue
                done, when = self._completion(int(course["id"]), int(user["id"]))
                if done and when is not None and when >= req.since:
                    found.append(
                        Completion(
                            enrollment_id=f"moodle-{course['id']}-{user['id']}",
                            employee_id=employee,
                            course_id=course_id,
                            completed_at=when,
                            source_lms=self.name,
                        )
                    )
        found.sort(key=lambda c: (c.completed_at, c.enrollment_id))
        return found[: req.limit]
