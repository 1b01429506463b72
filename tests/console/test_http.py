"""The console over HTTP, against a real `talentloop console` process: sign-in, roles, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_server import PASSWORD, Browser, Console, running_console, seed
from sqlalchemy import func, select

from activities.store.readmodel import ConsoleAuditRow, RmPlanItemRow
from talentloop.console.auth import disable_user


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp: Path = tmp_path_factory.mktemp("console")
    with running_console(tmp) as c:
        seed(c.sessions)
        yield c


def signed_in(console: Console, user: str) -> Browser:
    b = Browser(console.url)
    r = b.sign_in(user)
    assert r.status_code == 303, r.text
    return b


def test_pages_need_sign_in_and_the_cookie_is_locked_down(console: Console) -> None:
    b = Browser(console.url)
    r = b.get("/items")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    token = b.csrf()
    r = b.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": "/"},
    )
    assert r.status_code == 303
    cookie = next(
        v for v in r.headers.get_list("set-cookie") if v.startswith("talentloop_session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "secure" in flags and "samesite=lax" in flags
    page = b.get("/")
    assert page.status_code == 200 and "Overview" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_sign_in_without_csrf_is_refused_and_failures_are_throttled(console: Console) -> None:
    b = Browser(console.url)
    b.csrf()
    r = b.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403 and b.get("/").status_code == 303
    statuses = [b.sign_in("locked", "wrong password!").status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    # Even the right password waits now.
    assert b.sign_in("locked").status_code == 429


def test_overview_numbers_equal_the_read_model(console: Console) -> None:
    b = signed_in(console, "admin")
    html = b.get("/").text
    with console.sessions() as s:
        overdue = s.scalar(
            select(func.count()).select_from(RmPlanItemRow).where(RmPlanItemRow.state == "overdue")
        )
        waiting = s.scalar(
            select(func.count())
            .select_from(RmPlanItemRow)
            .where(RmPlanItemRow.state == "awaiting_approval")
        )

    def number(card: str) -> int:
        m = re.search(rf'id="{card}".*?class="n">(\d+)<', html, re.S)
        assert m, card
        return int(m.group(1))

    assert number("n-overdue") == overdue == 2
    assert number("n-approvals") == waiting == 3
    assert number("n-past-sla") == 1  # requested 9 days ago, SLA 5 days
    items = b.get("/items?overdue=1").text
    assert items.count('class="state-overdue"') == overdue


def test_manager_reads_own_team_only(console: Console) -> None:
    lead = signed_in(console, "lead")
    assert lead.get("/employees/E00003").status_code == 200
    r = lead.get("/employees/S00001")
    assert r.status_code == 403 and "Person S00001" not in r.text
    listed = lead.get("/items?q=S000").text
    assert "S00001" not in listed
    assert lead.get("/dead-letters").status_code == 403
    # The head sees the escalated item of a report's report, and not the rest of that team.
    head = signed_in(console, "head")
    assert head.get("/employees/E00010").status_code == 200
    assert head.get("/employees/E00003").status_code == 403
    assert "big-b" in head.get("/approvals").text


def test_viewer_cannot_decide_and_nothing_changes(console: Console) -> None:
    viewer = signed_in(console, "viewer")
    page = viewer.get("/employees/E00003")
    assert page.status_code == 200 and 'value="approve"' not in page.text
    token = viewer.csrf("/approvals")
    r = viewer.post(
        "/decide",
        data={
            "csrf_token": token,
            "employee_id": "E00003",
            "course_id": "big-a",
            "decision": "approve",
        },
    )
    assert r.status_code == 403
    with console.sessions() as s:
        assert s.get(RmPlanItemRow, ("E00003", "big-a")).state == "awaiting_approval"
        refused = s.scalars(
            select(ConsoleAuditRow).where(
                ConsoleAuditRow.actor == "viewer", ConsoleAuditRow.action == "approve"
            )
        ).all()
    assert [a.outcome for a in refused] == ["forbidden"]


def test_decide_without_csrf_is_refused(console: Console) -> None:
    lead = signed_in(console, "lead")
    r = lead.post(
        "/decide", data={"employee_id": "E00003", "course_id": "big-a", "decision": "approve"}
    )
    assert r.status_code == 403
    # Another manager's item, with a valid token: refused too.
    token = lead.csrf("/approvals")
    r = lead.post(
        "/decide",
        data={
            "csrf_token": token,
            "employee_id": "S00001",
            "course_id": "big-c",
            "decision": "reject",
        },
    )
    assert r.status_code == 403


def test_csv_export_and_filters(console: Console) -> None:
    admin = signed_in(console, "admin")
    r = admin.get("/items?department=Sales&format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("employee_id,name,department")
    assert len(lines) == 2 and "S00001" in lines[1]
    heat = admin.get("/heatmap")
    assert heat.status_code == 200 and "Programming" in heat.text
    audit = admin.get("/audit").text
    assert "export" in audit


def test_a_disabled_user_is_signed_out(console: Console) -> None:
    sales = signed_in(console, "sales")
    assert sales.get("/approvals").status_code == 200
    disable_user(console.sessions, "sales", "left the company")
    assert sales.get("/approvals").status_code == 303
    assert Browser(console.url).sign_in("sales").status_code == 401
