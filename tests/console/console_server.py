"""A seeded app database and a real `talentloop console` process over it, for the tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from console_events import burst, records
from sqlalchemy.orm import Session, sessionmaker

from activities.store.engine import open_engine, session_factory
from activities.store.projector import Projector
from activities.store.tables import (
    EmployeeRow,
    EvidenceRow,
    RoleRequirementRow,
    RoleRow,
    SkillRow,
)
from schemas.learning import EmployeeLearningState, PlanItemState, Transition
from schemas.skills import ONET_LV_ID
from talentloop.console.auth import add_user

PASSWORD = "correct horse battery"
NOW = datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pending(
    employee: str, course: str, approver: str, *, days_ago: int = 1
) -> EmployeeLearningState:
    at = NOW - timedelta(days=days_ago)
    return EmployeeLearningState(
        employee_id=employee,
        items=[
            PlanItemState(
                course_id=course,
                title=f"Course {course}",
                hours=40,
                reason="Programming 2→4 for objective Q3-cloud",
                status="awaiting_approval",
                source_event=f"review-{employee}",
                approver_id=approver,
                approval_requested_at=at,
                escalations=1 if approver == "M0001" and employee == "E00010" else 0,
                transitions=[Transition(at=at, status="awaiting_approval", why="40 h over 16 h")],
            )
        ],
    )


def seed(sessions: sessionmaker[Session]) -> None:
    """Org: M0001 (Eng head) → M0002 (Eng lead) → E00000..E00005, E00010; Sales under M0003."""
    with sessions.begin() as s:
        s.add(RoleRow(id="dev", title="Software Developer"))
        s.add(RoleRow(id="rep", title="Sales Rep"))
        s.add(SkillRow(id="prog", name="Programming"))
        s.add(SkillRow(id="talk", name="Speaking"))
        s.flush()
        s.add_all(
            [
                RoleRequirementRow(role_id="dev", skill_id="prog", level=4, importance=4),
                RoleRequirementRow(role_id="rep", skill_id="talk", level=3, importance=4),
            ]
        )
        people = [("M0001", "Eng", "dev", None), ("M0002", "Eng", "dev", "M0001")]
        people += [("M0003", "Sales", "rep", None)]
        people += [(f"E{n:05d}", "Eng", "dev", "M0002") for n in range(6)]
        people += [("E00010", "Eng", "dev", "M0002")]
        people += [(f"S{n:05d}", "Sales", "rep", "M0003") for n in range(4)]
        for pid, dept, role, mgr in people:
            s.add(
                EmployeeRow(
                    id=pid,
                    name=f"Person {pid}",
                    email=f"{pid.lower()}@example.com",
                    role_id=role,
                    department=dept,
                    manager_id=mgr,
                )
            )
        s.flush()
        for n, (pid, _d, role, _m) in enumerate(people):
            s.add(
                EvidenceRow(
                    employee_id=pid,
                    skill_id="prog" if role == "dev" else "talk",
                    level=4.5 if n % 2 else 2.0,
                    scale_id=ONET_LV_ID,
                    source="review_manager",
                    observed_at=date.today() - timedelta(days=3),
                    ref=f"review-{pid}",
                )
            )
    projector = Projector(sessions)
    projector.apply_outbound(records(burst(6)))
    projector.apply_plan(pending("E00003", "big-a", "M0002"))
    projector.apply_plan(pending("E00010", "big-b", "M0001", days_ago=9))  # escalated
    projector.apply_plan(pending("S00001", "big-c", "M0003"))
    for user, role, emp in (
        ("admin", "hr_admin", None),
        ("viewer", "hr_viewer", None),
        ("locked", "hr_viewer", None),
        ("lead", "manager", "M0002"),
        ("head", "manager", "M0001"),
        ("sales", "manager", "M0003"),
    ):
        add_user(sessions, user, PASSWORD, role, emp)


@dataclass
class Console:
    """A running console process and its database."""

    url: str
    db_url: str
    sessions: sessionmaker[Session]
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_console(
    tmp: Path, *, temporal: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Console]:
    db_url = f"sqlite:///{tmp / 'app.db'}"
    engine = open_engine(db_url)
    sessions = session_factory(engine)
    port = free_port()
    env = {
        **os.environ,
        "TALENTLOOP_DATABASE_URL": db_url,
        "TALENTLOOP_STATE_DIR": str(tmp / "state"),
        "TALENTLOOP_CONSOLE_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "TALENTLOOP_TEMPORAL_ADDRESS": temporal or f"127.0.0.1:{free_port()}",
        **(extra_env or {}),
    }
    log = tmp / "console.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "talentloop.cli",
                "console",
                "--port",
                str(port),
                "--no-projector",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"console did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Console(url, db_url, sessions, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        engine.dispose()


@dataclass
class Browser:
    """An HTTP client that keeps the session cookie itself (Secure cookies over plain HTTP)."""

    base: str
    cookie: str | None = None
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def request(self, method: str, path: str, **kw: object) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        if self.cookie:
            headers["Cookie"] = f"talentloop_session={self.cookie}"
        r = self.client.request(method, self.base + path, headers=headers, **kw)  # type: ignore[arg-type]
        for value in r.headers.get_list("set-cookie"):
            m = re.match(r"talentloop_session=([^;]*)", value)
            if m:
                self.cookie = m.group(1) or None
        return r

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: object) -> httpx.Response:
        return self.request("POST", path, **kw)

    def csrf(self, path: str = "/login") -> str:
        m = re.search(r'name="csrf_token" value="([^"]+)"', self.get(path).text)
        assert m, "no CSRF token on the page"
        return m.group(1)

    def sign_in(self, user: str, password: str = PASSWORD) -> httpx.Response:
        token = self.csrf()
        return self.post(
            "/login",
            data={"username": user, "password": password, "csrf_token": token, "next": "/"},
        )
