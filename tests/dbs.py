"""Test databases: a SQLite file, or a throw-away PostgreSQL database on the local server.

PostgreSQL is found at ``TALENTLOOP_TEST_PG_URL`` (default: postgres@127.0.0.1:5432, trust
auth). An unreachable server FAILS the test: `.ci/run` starts the server, and a skipped
PostgreSQL test would hide a defect.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from activities.lms.builtin import BuiltinLms
from activities.store.tables import CourseRow, EmployeeRow, RoleRow

PG_ADMIN_URL = os.environ.get(
    "TALENTLOOP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (``talentloop_test_<random>``), dropped afterwards."""
    name = f"talentloop_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({err}); start it "
            "(`make postgres`) or point TALENTLOOP_TEST_PG_URL at one",
            pytrace=False,
        )
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            yield f"{base}/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A database URL of `kind` ("sqlite" or "postgresql"), empty, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
    else:
        with postgres_database() as url:
            yield url


EMPLOYEES = [f"E{n:03d}" for n in range(1, 61)]


@dataclass
class BuiltinDb:
    engine: Engine
    sessions: sessionmaker[Session]
    lms: BuiltinLms


def seed_small(sessions: sessionmaker[Session]) -> None:
    """A role, 60 employees, a course with skills and a self-paced one."""
    with sessions.begin() as s:
        s.add(RoleRow(id="dev", title="Developer"))
        s.flush()
        for e in EMPLOYEES:
            s.add(
                EmployeeRow(id=e, name=f"Person {e}", email=f"{e.lower()}@x.example", role_id="dev")
            )
        s.add(
            CourseRow(
                id="C-SQL",
                title="SQL",
                hours=8.0,
                teaches=[{"skill_id": "onet:2.B.3.e", "from_level": 0, "to_level": 3}],
            )
        )
        s.add(CourseRow(id="C-SELF", title="Self-paced Git", hours=2.0, teaches=[]))
