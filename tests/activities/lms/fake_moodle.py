"""A Moodle stand-in for tests: a real HTTP server speaking Moodle's Web Services REST protocol.

``POST /webservice/rest/server.php`` with ``wstoken``, ``wsfunction``, ``moodlewsrestformat=json``
and form-encoded parameters (``enrolments[0][userid]=7``). It answers as Moodle documents:
JSON bodies, errors as HTTP 200 with ``{"exception", "errorcode", "message"}``. Faults (HTTP
status, slowness, an HTML page) can be queued for the next calls.

Beyond the happy path it behaves as a Moodle 4.5 site does where the token's role lacks a
capability or a course or enrolment is in an ordinary but unusual state; each such answer is
commented with the Moodle function and the exception or errorcode it mirrors.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

FUNCTIONS = {
    "core_course_get_courses_by_field",
    "core_course_search_courses",
    "core_user_get_users_by_field",
    "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users",
    "core_enrol_get_enrolled_users",
    "core_completion_get_course_completion_status",
    "core_webservice_get_site_info",
    "core_competency_list_course_competencies",
}

ALL_CAPABILITIES = frozenset(
    {
        "moodle/user:viewalldetails",
        "moodle/course:update",
        "report/completion:view",
        "moodle/competency:coursecompetencyview",
        "moodle/role:review",
        "moodle/course:enrolreview",
    }
)
"""Capabilities of the token's role that change what the fake answers (all granted by default)."""
STUDENT, TEACHER = 5, 3
"""Moodle's default role ids of "student" and "editingteacher"."""


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[0][b]=1`` -> ``{"a": [{"b": "1"}]}`` (numeric keys make lists)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def _error(exception: str, errorcode: str, message: str) -> dict[str, Any]:
    return {"exception": exception, "errorcode": errorcode, "message": message}


def _missing(table: str) -> dict[str, Any]:
    return _error(
        "dml_missing_record_exception",
        "invalidrecord",
        f"Can't find data record in database table {table}.",
    )


@dataclass
class MoodleState:
    token: str = "s3cret-token"
    granted: set[str] = field(default_factory=lambda: set(FUNCTIONS))
    courses: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags: dict[int, set[int]] = field(default_factory=dict)
    enrolments: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)
    capabilities: set[str] = field(default_factory=lambda: set(ALL_CAPABILITIES))
    assignable_roles: set[int] = field(default_factory=lambda: {STUDENT})
    """Roles the token's role may assign ("Allow role assignments"); student by default."""
    competencies: dict[int, dict[str, Any]] = field(default_factory=dict)
    course_competencies: dict[int, list[int]] = field(default_factory=dict)
    rewrites: int = 0
    """Existing enrolments that an enrol call rewrote (timestart, status)."""
    completed: dict[tuple[int, int], int] = field(default_factory=dict)
    faults: list[tuple[str, Any]] = field(default_factory=list)
    calls: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_course(self, cid: int, idnumber: str, fullname: str, **extra: Any) -> None:
        self.courses[cid] = {
            "id": cid,
            "fullname": fullname,
            "displayname": fullname,
            "shortname": idnumber.lower(),
            "categoryid": 1,
            "categoryname": "Miscellaneous",
            "idnumber": idnumber,
            "summary": "",
            "summaryformat": 1,
            "startdate": 0,
            "enddate": 0,
            "visible": 1,
            "enablecompletion": 1,
            "customfields": extra.pop("customfields", []),
            **extra,
        }
        self.courses[cid].setdefault("_criteria", True)

    def add_competency(self, comp_id: int, idnumber: str, *courses: int) -> None:
        """A competency of the site's framework, linked to the given courses."""
        self.competencies[comp_id] = {
            "id": comp_id,
            "shortname": idnumber,
            "idnumber": idnumber,
            "competencyframeworkid": 1,
        }
        for cid in courses:
            self.course_competencies.setdefault(cid, []).append(comp_id)

    def enrol(self, cid: int, uid: int, *, roleid: int = STUDENT, suspended: bool = False) -> None:
        """An enrolment made in Moodle itself (a teacher, or one suspended by a teacher)."""
        self.enrolments[(cid, uid)] = {
            "roleid": roleid,
            "timestart": 1_700_000_000,
            "timeend": 0,
            "status": 1 if suspended else 0,
        }

    def _user_out(self, user: dict[str, Any], fields: set[str] | None = None) -> dict[str, Any]:
        # user_get_user_details (user/lib.php): idnumber and username only with
        # moodle/user:viewalldetails (or idnumber in showuseridentity); otherwise left out.
        out = {k: v for k, v in user.items() if fields is None or k in fields or k == "id"}
        if "moodle/user:viewalldetails" not in self.capabilities:
            out.pop("idnumber", None)
            out.pop("username", None)
        if not out.get("idnumber"):
            out.pop("idnumber", None)
        return out

    def _course_out(self, course: dict[str, Any]) -> dict[str, Any]:
        # core_course_external::get_courses_by_field: idnumber is in the "managers only" fields,
        # returned with moodle/course:update in the course context.
        out = {k: v for k, v in course.items() if not k.startswith("_")}
        if "moodle/course:update" not in self.capabilities:
            out.pop("idnumber", None)
        return out

    def _tracked(self, cid: int, uid: int) -> bool:
        # completion_info::is_tracked_user: an active enrolment whose role has
        # moodle/course:isincompletionreports (students, not teachers).
        e = self.enrolments.get((cid, uid))
        return e is not None and e.get("status", 0) == 0 and e["roleid"] == STUDENT

    def add_user(self, uid: int, idnumber: str) -> None:
        self.users[uid] = {
            "id": uid,
            "username": idnumber.lower(),
            "firstname": "Test",
            "lastname": idnumber,
            "fullname": f"Test {idnumber}",
            "email": f"{idnumber.lower()}@example.com",
            "idnumber": idnumber,
            "auth": "manual",
            "suspended": False,
        }

    # -- functions ---------------------------------------------------------------------

    def handle(self, fn: str, p: dict[str, Any]) -> Any:
        if fn == "core_webservice_get_site_info":
            # core_webservice_external::get_site_info: the site, the token's user, and the
            # functions of the token's external service (only those an admin added to it).
            return {
                "sitename": "Fake Moodle",
                "username": "talentloop",
                "userid": 2,
                "siteurl": "http://127.0.0.1",
                "release": "4.5 (Build: 20241007)",
                "version": "2024100700",
                "functions": [
                    {"name": name, "version": "2024100700"} for name in sorted(self.granted)
                ],
                "warnings": [],
            }
        if fn == "core_course_get_courses_by_field":
            fld, value = p.get("field", ""), p.get("value", "")
            if fld not in ("", "id", "ids", "shortname", "idnumber", "category"):
                return _error(
                    "invalid_parameter_exception",
                    "invalidparameter",
                    "Invalid parameter value detected",
                )
            found = [
                self._course_out(c)
                for c in self.courses.values()
                if fld == "" or str(c.get(fld)) == str(value)
            ]
            return {"courses": found, "warnings": []}
        if fn == "core_course_search_courses":
            if p.get("criterianame") != "tagid":
                return {"total": 0, "courses": [], "warnings": []}
            ids = self.tags.get(int(p["criteriavalue"]), set())
            found = [self._course_out(self.courses[i]) for i in sorted(ids) if i in self.courses]
            return {"total": len(found), "courses": found, "warnings": []}
        if fn == "core_user_get_users_by_field":
            fld = p.get("field")
            values = set(p.get("values", []))
            # core_user_external::get_users_by_field returns a user only if the searched field
            # is among the details the token may see ("not allowed to search the user").
            shown = [self._user_out(u) for u in self.users.values() if str(u.get(fld)) in values]
            return [u for u in shown if u.get(str(fld))]
        if fn == "enrol_manual_enrol_users":
            for e in p["enrolments"]:
                cid, uid = int(e["courseid"]), int(e["userid"])
                if cid not in self.courses:
                    return _missing("context")
                if uid not in self.users:
                    return _missing("user")
                if int(e["roleid"]) not in self.assignable_roles:
                    # enrol_manual_external::enrol_users: the role is not among
                    # get_assignable_roles() of the token's role ("Allow role assignments").
                    return _error(
                        "moodle_exception",
                        "wsusercannotassign",
                        "You don't have the permission to assign this role "
                        f"({e['roleid']}) to this user ({uid}) in this course({cid}).",
                    )
                if (cid, uid) in self.enrolments:
                    # enrol_plugin::enrol_user on an existing user_enrolments row rewrites its
                    # timestart (0 when not sent) and status (active unless suspend=1).
                    self.rewrites += 1
                self.enrolments[(cid, uid)] = {
                    "roleid": int(e["roleid"]),
                    "timestart": int(e.get("timestart", 0)),
                    "timeend": int(e.get("timeend", 0)),
                    "status": 1 if int(e.get("suspend", 0) or 0) else 0,
                }
            return None
        if fn == "enrol_manual_unenrol_users":
            for e in p["enrolments"]:
                cid, uid = int(e["courseid"]), int(e["userid"])
                if cid not in self.courses:
                    return _missing("context")
                self.enrolments.pop((cid, uid), None)
            return None
        if fn == "core_enrol_get_enrolled_users":
            cid = int(p["courseid"])
            if cid not in self.courses:
                return _missing("course")
            # core_enrol_external::get_enrolled_users: options onlyactive, withcapability,
            # userfields, limitfrom, limitnumber; details as user_get_user_details.
            opts = {str(o.get("name")): str(o.get("value")) for o in p.get("options", [])}
            # "withcapability" needs moodle/role:review, "onlyactive" moodle/course:enrolreview
            # (required_capability_exception "nopermissions").
            for opt, cap in [
                ("withcapability", "moodle/role:review"),
                ("onlyactive", "moodle/course:enrolreview"),
            ]:
                if opts.get(opt) not in (None, "", "0") and cap not in self.capabilities:
                    return _error(
                        "required_capability_exception",
                        "nopermissions",
                        f"Sorry, but you do not currently have permissions to do that ({cap}).",
                    )
            fields = set(opts["userfields"].split(",")) if "userfields" in opts else None
            uids = [u for (c, u) in sorted(self.enrolments) if c == cid]
            if opts.get("onlyactive") in ("1", "true"):
                uids = [u for u in uids if self.enrolments[(cid, u)].get("status", 0) == 0]
            if opts.get("withcapability") == "moodle/course:isincompletionreports":
                uids = [u for u in uids if self.enrolments[(cid, u)]["roleid"] == STUDENT]
            start = int(opts.get("limitfrom", "0"))
            count = int(opts.get("limitnumber", "0")) or len(uids)
            return [self._user_out(self.users[u], fields) for u in uids[start : start + count]]
        if fn == "core_completion_get_course_completion_status":
            cid, uid = int(p["courseid"]), int(p["userid"])
            if cid not in self.courses:
                return _missing("course")
            if uid not in self.users:
                return _missing("user")
            course = self.courses[cid]
            # core_completion_external::get_course_completion_status, in its order of checks:
            # completion_can_view_data() false (tracking off in the course, or no
            # report/completion:view) -> "cannotviewreport"; not a tracked user (not enrolled,
            # suspended, or a role without isincompletionreports such as a teacher) ->
            # "usernotenroled"; no completion criteria -> "nocriteriaset".
            if not course.get("enablecompletion") or (
                "report/completion:view" not in self.capabilities
            ):
                return _error(
                    "moodle_exception", "cannotviewreport", "Cannot view course completion report"
                )
            if not self._tracked(cid, uid):
                return _error(
                    "moodle_exception", "usernotenroled", "User is not enrolled in this course"
                )
            if not course.get("_criteria"):
                return _error(
                    "moodle_exception", "nocriteriaset", "No criteria set for this course"
                )
            done = self.completed.get((cid, uid))
            return {
                "completionstatus": {
                    "completed": done is not None,
                    "aggregation": 1,
                    "completions": [
                        {
                            "type": 4,
                            "title": "Activity completion",
                            "status": "Yes" if done else "No",
                            "complete": done is not None,
                            "timecompleted": done,
                            "details": {
                                "type": "Activity completion",
                                "criteria": "Quiz",
                                "requirement": "Marking yourself complete",
                                "status": "",
                            },
                        }
                    ],
                },
                "warnings": [],
            }
        if fn == "core_competency_list_course_competencies":
            # core_competency_external::list_course_competencies(id): needs
            # moodle/competency:coursecompetencyview in the course, else a
            # required_capability_exception "nopermissions"; each entry holds the competency
            # (idnumber, shortname, ...) and the course competency (its rule outcome).
            if "moodle/competency:coursecompetencyview" not in self.capabilities:
                return _error(
                    "required_capability_exception",
                    "nopermissions",
                    "Sorry, but you do not currently have permissions to do that "
                    "(View course competencies).",
                )
            cid = int(p["id"])
            if cid not in self.courses:
                return _missing("course")
            return [
                {
                    "competency": self.competencies[comp],
                    "coursecompetency": {
                        "id": n + 1,
                        "courseid": cid,
                        "competencyid": comp,
                        "sortorder": n,
                        "ruleoutcome": 1,
                    },
                    "ruleoutcomeoptions": [],
                }
                for n, comp in enumerate(self.course_competencies.get(cid, []))
            ]
        return _error(
            "dml_missing_record_exception",
            "invalidrecord",
            "Can't find data record in database table external_functions.",
        )


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        state = self.server.state
        if self.path.split("?")[0] != "/webservice/rest/server.php":
            self._send(404, b"not found", "text/html")
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = decode_form(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        with state.lock:
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            fault = state.faults.pop(0) if state.faults else None
            fn = str(form.get("wsfunction", ""))
            state.calls.append((time.monotonic(), fn, form))
        try:
            if state.delay_s:
                time.sleep(state.delay_s)
            if fault is not None:
                kind, arg = fault
                if kind == "status":
                    self._send(int(arg), b"<html>error</html>", "text/html")
                    return
                if kind == "sleep":
                    time.sleep(float(arg))
                elif kind == "body":
                    self._send(200, json.dumps(arg).encode())
                    return
                elif kind == "html":
                    self._send(200, b"<html><body>Fatal error</body></html>", "text/html")
                    return
            if form.get("moodlewsrestformat") != "json":
                self._send(200, b"<?xml version='1.0'?><RESPONSE/>", "application/xml")
                return
            if form.get("wstoken") != state.token:
                body: Any = _error(
                    "moodle_exception", "invalidtoken", "Invalid token - token not found"
                )
            elif fn not in state.granted:
                body = _error(
                    "webservice_access_exception", "accessexception", "Access control exception"
                )
            else:
                params = {
                    k: v
                    for k, v in form.items()
                    if k not in ("wstoken", "wsfunction", "moodlewsrestformat")
                }
                with state.lock:
                    body = state.handle(fn, params)
            self._send(200, json.dumps(body).encode())
        finally:
            with state.lock:
                state.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: MoodleState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextmanager
def fake_moodle(state: MoodleState | None = None) -> Iterator[tuple[str, MoodleState]]:
    """Serve a fake Moodle on a free loopback port; yields (site URL, state)."""
    state = state or MoodleState()
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
