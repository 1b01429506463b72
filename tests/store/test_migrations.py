"""The schema comes from Alembic revisions, which match the table definitions."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from activities.store.engine import normalize_url, open_engine
from activities.store.migrate import (
    BASELINE,
    alembic_config,
    current_revisions,
    head_revisions,
)
from activities.store.tables import Base


def test_open_engine_migrates_to_head_and_matches_the_tables(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        with engine.connect() as conn:
            assert current_revisions(conn) == head_revisions()
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert {"courses", "lms_enrollments", "lms_course_sessions", "lms_poll_cursors"} <= tables
    finally:
        engine.dispose()


def test_opening_again_is_a_no_op_and_keeps_data(db_url: str) -> None:
    engine = open_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO roles (id, title) VALUES ('r1', 'Role')"))
    engine.dispose()
    again = open_engine(db_url)
    try:
        with again.connect() as conn:
            assert conn.execute(text("SELECT title FROM roles")).scalar_one() == "Role"
    finally:
        again.dispose()


def test_concurrent_openers_migrate_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def open_once() -> None:
        try:
            open_engine(db_url).dispose()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _columns(engine: Engine | Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _baseline_columns(tmp_path: Path) -> dict[str, set[str]]:
    """Each table's columns at the baseline revision (a scratch database migrated to it)."""
    url = f"sqlite:///{tmp_path / 'baseline.db'}"
    command.upgrade(alembic_config(url), BASELINE)
    scratch = create_engine(url)
    try:
        return {t: _columns(scratch, t) for t in inspect(scratch).get_table_names()}
    finally:
        scratch.dispose()


def test_a_database_made_before_migrations_is_stamped_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    legacy = create_engine(url)
    baseline_columns = _baseline_columns(tmp_path)
    # What `create_all` made before migrations: the baseline tables, no alembic_version.
    baseline = [
        "skills",
        "roles",
        "role_requirements",
        "courses",
        "employees",
        "evidence",
        "lms_enrollments",
        "mail_outbox",
        "objective_sets",
    ]
    with legacy.begin() as conn:
        Base.metadata.create_all(conn, tables=[Base.metadata.tables[t] for t in baseline])
        conn.execute(text("DROP INDEX IF EXISTS ix_lms_enrollments_session_status"))
        conn.execute(text("DROP INDEX IF EXISTS ix_lms_enrollments_completed_at"))
        # Columns added to these tables since the baseline were not there then.
        for table in baseline:
            for column in sorted(_columns(legacy, table) - baseline_columns[table]):
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    legacy.dispose()
    # The enrollment table of then lacked the LMS columns added since; rebuild it so.
    with create_engine(url).begin() as conn:
        conn.execute(text("DROP TABLE lms_enrollments"))
        conn.execute(
            text(
                "CREATE TABLE lms_enrollments (id INTEGER PRIMARY KEY, employee_id VARCHAR(128) "
                "NOT NULL, course_id VARCHAR(128) NOT NULL REFERENCES courses(id), status "
                "VARCHAR(16) NOT NULL, due DATE, reason TEXT NOT NULL, source_event VARCHAR(256) "
                "NOT NULL, created_at DATETIME NOT NULL, completed_at DATETIME, "
                "UNIQUE (employee_id, course_id))"
            )
        )
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            assert current_revisions(conn) == head_revisions() != {BASELINE}
        columns = {c["name"] for c in inspect(engine).get_columns("lms_enrollments")}
        assert {"session_id", "waitlist_position"} <= columns
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
