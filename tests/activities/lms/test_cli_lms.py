"""`talentloop lms ...` against a real SQLite database (``python -m talentloop.cli lms``)."""

from __future__ import annotations

import os
from pathlib import Path

from dbs import EMPLOYEES, seed_small
from support.cli import CliResult, talentloop_lms

from activities.store.engine import open_engine, session_factory
from talentloop.dev.teststack import free_ports


def lms(db: Path, *args: str) -> CliResult:
    [closed] = free_ports(1)
    env = dict(os.environ)
    env.update(
        TALENTLOOP_DATABASE_URL=f"sqlite:///{db}",
        TALENTLOOP_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed}",
        TALENTLOOP_KAFKA_CONNECT_TIMEOUT_MS="1500",
    )
    return talentloop_lms(*args, env=env)


def test_sessions_enrollments_and_completion(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    engine = open_engine(f"sqlite:///{db}")
    seed_small(session_factory(engine))
    engine.dispose()

    added = lms(db, "add-session", "C-SQL-1", "C-SQL", "--capacity", "1")
    assert added.exit_code == 0, added.stderr
    assert "0/1 enrolled" in added.stdout

    from activities.lms.builtin import BuiltinLms
    from schemas.learning import EnrollRequest

    builtin = BuiltinLms(session_factory(open_engine(f"sqlite:///{db}")))
    for e in EMPLOYEES[:2]:
        builtin.enroll(
            EnrollRequest(employee_id=e, course_id="C-SQL", due=None, reason="", source_event="x")
        )

    courses = lms(db, "courses")
    assert courses.exit_code == 0, courses.stderr
    assert "C-SQL-1 1/1 +1w" in courses.stdout
    assert "self-paced" in courses.stdout

    listed = lms(db, "enrollments", "--course", "C-SQL")
    assert listed.exit_code == 0
    assert "waitlisted #1" in listed.stdout and "2 enrollment(s)" in listed.stdout

    # Not enrolled: one line, non-zero.
    refused = lms(db, "complete", EMPLOYEES[1], "C-SQL")
    assert refused.exit_code == 1
    assert len(refused.stderr.strip().splitlines()) == 1 and "waitlisted" in refused.stderr

    # Kafka unreachable: the completion is recorded, the failure is one line.
    done = lms(db, "complete", EMPLOYEES[0], "C-SQL", "--score", "90")
    assert done.exit_code == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "publishing course.completed failed" in done.stderr
    status = builtin.status(EMPLOYEES[0], "C-SQL")
    assert status is not None and status.status == "completed"
