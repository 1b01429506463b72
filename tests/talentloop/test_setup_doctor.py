"""`talentloop setup` makes a bare stack ready, idempotently; `talentloop doctor` says which part
of a deployment is not ready, and exits 0 only when all are.

One private stack of its own (the test stops its components one by one).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from support.cli import CliResult, talentloop

from activities.store.engine import open_engine
from activities.store.tables import CourseRow
from talentloop.dev.devstack import KAFKA, SMTP, TEMPORAL, DevStack
from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings
from talentloop.service.doctor import Check, run_doctor
from talentloop.service.provision import run_setup
from talentloop.service.schedules import product_schedules
from talentloop.service.temporal import connect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    state = tmp_path_factory.mktemp("doctor")
    stack = DevStack(private_settings(state), startup_timeout=90)
    try:
        stack.up()
        yield stack
    finally:
        with contextlib.suppress(Exception):
            stack.down()


def by_component(checks: list[Check]) -> dict[str, Check]:
    return {c.component: c for c in checks}


def failing(checks: list[Check]) -> set[str]:
    return {c.component for c in checks if not c.ok}


def doctor_cli(settings: Settings) -> CliResult:
    return talentloop("doctor", env=settings.to_env())


async def test_setup_makes_a_bare_stack_ready_and_doctor_names_each_stopped_component(
    stack: DevStack,
) -> None:
    settings = stack.settings
    # A bare stack: no database, no Schedule.
    before = await run_doctor(settings)
    assert {"database", "lms", "temporal"} <= failing(before)
    assert "Schedules missing" in by_component(before)["temporal"].detail
    assert "talentloop setup" in by_component(before)["database"].fix

    first = await run_setup(settings)
    assert [s.component for s in first] == ["database", "kafka", "temporal", "schedules"]
    assert "created" in first[-1].detail
    again = await run_setup(settings)  # idempotent: nothing new, the Schedule updated
    assert "created: none" in again[1].detail and "added: none" in again[2].detail
    assert "updated" in again[-1].detail and "created" not in again[-1].detail
    client = await connect(settings)
    for schedule_id in product_schedules(settings):
        await client.get_schedule_handle(schedule_id).describe()

    # The built-in LMS needs a catalog before it is ready.
    assert by_component(await run_doctor(settings))["lms"].fix == "run `talentloop seed`"
    engine = open_engine(settings.db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(CourseRow).values(
                id="c-doctor", title="Doctor", hours=1.0, cost=0.0, teaches=[], prerequisites=[]
            )
        )
    engine.dispose()

    healthy = doctor_cli(settings)
    assert healthy.exit_code == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.strip().splitlines()[-1] == "ready"

    # A database behind its migrations is named, with the fix (doctor does not migrate it).
    old = Path(settings.state_dir) / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE unrelated (x INTEGER)").connection.close()
    behind = Settings(**{**settings.model_dump(), "database_url": f"sqlite:///{old}"})
    checks = by_component(await run_doctor(behind))
    assert failing(list(checks.values())) == {"database", "lms"}
    assert "at no revision" in checks["database"].detail
    assert checks["database"].fix == "run `talentloop setup`"

    # Each component stopped in turn is named (and only the stopped ones).
    stopped: set[str] = set()
    for name in (SMTP, KAFKA, TEMPORAL):
        stack.down(only=[name])
        stopped.add(name)
        result = doctor_cli(settings)
        assert result.exit_code == 1
        named = ", ".join(c for c in (TEMPORAL, KAFKA, SMTP) if c in stopped)
        assert result.stdout.strip().splitlines()[-1] == f"NOT READY: {named}"
        assert "Traceback" not in result.stderr
