"""The console in a real headless browser (Debian's chromium, driven by Playwright) over the
real embedded stack: a review lands, its item awaits the manager's approval, the manager signs
in, sees the overview, approves, and the workflow moves; a viewer cannot approve.

Screenshots of each page go to ``tests/console/artifacts/`` (TALENTLOOP_TEST_ARTIFACTS).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_server import PASSWORD, free_port
from kafka import KafkaProducer
from sqlalchemy import select
from support.events import role_review_event

from activities.store.engine import open_engine, session_factory
from activities.store.readmodel import ConsoleAuditRow, RmAppliedEventRow, RmPlanItemRow
from activities.store.tables import EmployeeRow
from talentloop.console.auth import add_user
from talentloop.dev.devstack import DevStack
from talentloop.dev.seed import seed
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.kafka import connection_config
from talentloop.service.temporal import connect
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TALENTLOOP_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))

pytestmark = pytest.mark.slow


def wait_for(what: str, check: Callable[[], object], timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def spawn(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = settings.to_env()
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "talentloop.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: `make chromium`", pytrace=False)
    state = tmp_path_factory.mktemp("browser")
    settings = private_settings(
        state,
        approval_hours_over=0.0,  # every course needs the manager's approval
        approval_cost_over=None,
        console_port=free_port(),
        console_secret_key="browser-test-secret-0123456789abcdef",
        projection_sweep_seconds=1.0,
        projection_poll_seconds=0.5,
    )
    dev = DevStack(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        dev.up()
        seed(session_factory(open_engine(settings.db_url)), settings.onet_dir, employees=12)
        procs.append(spawn(settings, state / "worker.log", "worker"))
        procs.append(spawn(settings, state / "bridge.log", "bridge"))
        procs.append(spawn(settings, state / "console.log", "console"))
        url = f"http://127.0.0.1:{settings.console_port}"
        import httpx

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the console", up, 120)
        yield settings, url
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        dev.down()


def test_manager_approves_in_the_browser_and_the_workflow_moves(
    stack: tuple[Settings, str],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    settings, url = stack
    sessions = session_factory(open_engine(settings.db_url))
    with sessions() as s:
        emp = s.scalars(
            select(EmployeeRow).where(EmployeeRow.manager_id.is_not(None)).order_by(EmployeeRow.id)
        ).first()
        assert emp is not None and emp.manager_id
        employee_id, manager_id = emp.id, emp.manager_id
    add_user(sessions, "manager", PASSWORD, "manager", manager_id)
    add_user(sessions, "viewer", PASSWORD, "hr_viewer")

    event = role_review_event(sessions, employee_id, f"browser-{uuid.uuid4()}")
    producer = KafkaProducer(**connection_config(settings))
    producer.send(
        settings.topic_reviews,
        key=employee_id.encode(),
        value=json.dumps(event).encode(),
        headers=[("content-type", b"application/cloudevents+json")],
    ).get(timeout=30)
    producer.close()

    def pending() -> list[str]:
        with sessions() as s:
            return list(
                s.scalars(
                    select(RmPlanItemRow.course_id).where(
                        RmPlanItemRow.employee_id == employee_id,
                        RmPlanItemRow.state == "awaiting_approval",
                    )
                )
            )

    courses = wait_for("an item awaiting approval in the read model", pending, 120)
    assert isinstance(courses, list)
    course = sorted(courses)[0]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/")
            page.fill("input[name=username]", "manager")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Overview")
            waiting = int(page.inner_text("#n-approvals .n"))
            assert waiting == len(courses)
            page.screenshot(path=str(ARTIFACTS / "overview-manager.png"), full_page=True)

            page.click("#n-approvals a")
            expect(page.locator("h1")).to_have_text("Approvals waiting")
            page.screenshot(path=str(ARTIFACTS / "approvals-manager.png"), full_page=True)

            page.goto(f"{url}/employees/{employee_id}")
            row = page.locator(f'tr[id="item-{course}"]')
            row.locator("input[name=comment]").fill("fits the Q3 plan")
            row.locator("button[value=approve]").click()
            expect(page.locator(".flash")).to_contain_text(course)
            page.screenshot(path=str(ARTIFACTS / "employee-approved.png"), full_page=True)

            page.goto(f"{url}/heatmap")
            page.screenshot(path=str(ARTIFACTS / "heatmap.png"), full_page=True)
            page.goto(f"{url}/audit")
            expect(page.locator("#audit")).to_contain_text("approve")
            page.screenshot(path=str(ARTIFACTS / "audit-manager.png"), full_page=True)

            viewer = browser.new_context().new_page()
            viewer.goto(f"{url}/login")
            viewer.fill("input[name=username]", "viewer")
            viewer.fill("input[name=password]", PASSWORD)
            viewer.click("button[type=submit]")
            viewer.goto(f"{url}/employees/{employee_id}")
            expect(viewer.locator("#plan")).to_be_visible()
            assert viewer.locator("button[value=approve]").count() == 0
            viewer.screenshot(path=str(ARTIFACTS / "employee-viewer.png"), full_page=True)
        finally:
            browser.close()

    async def status() -> str:
        client = await connect(settings)
        handle = client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee_id)
        )
        state = await handle.query(EmployeeLearningWorkflow.state)
        return next(i.status for i in state.items if i.course_id == course)

    moved = asyncio.run(status())
    assert moved in ("enrolled", "waitlisted", "in_progress"), moved
    with sessions() as s:
        audit = s.scalars(
            select(ConsoleAuditRow).where(
                ConsoleAuditRow.actor == "manager", ConsoleAuditRow.action == "approve"
            )
        ).all()
        assert [a.reason for a in audit] == ["fits the Q3 plan"]
        assert re.match(r"(enrolled|waitlisted|in_progress)", audit[0].outcome)
        assert s.get(RmPlanItemRow, (employee_id, course)).state == moved

    # The read model rebuilt from the topics (and the plans) equals the incremental one.
    def model() -> tuple[set[str], set[tuple[str, str, str]]]:
        with sessions() as s:
            events = set(s.scalars(select(RmAppliedEventRow.event_id)))
            items = {
                (r.employee_id, r.course_id, r.state) for r in s.scalars(select(RmPlanItemRow))
            }
        return events, items

    wait_for("the enrollment event in the read model", lambda: model()[0], 60)
    before = model()
    rebuilt = subprocess.run(
        [sys.executable, "-m", "talentloop.cli", "projections", "rebuild"],
        env=settings.to_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt:" in rebuilt.stdout
    assert model() == before
