"""Opening the application database: SQLite (WAL, busy timeout) by default, PostgreSQL by URL.

Opening migrates the schema to the newest Alembic revision (`activities.store.migrate`).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from activities.store.migrate import upgrade_to_head


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def normalize_url(url: str) -> str:
    """The URL with PostgreSQL's driver made explicit (psycopg 3, the one installed).

    Args:
        url: A SQLAlchemy URL; ``postgresql://`` and ``postgres://`` mean psycopg 3.

    Returns:
        The URL to hand to SQLAlchemy.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def open_engine(url: str) -> Engine:
    """Open the database at `url` and migrate it to the newest schema revision.

    Args:
        url: A SQLAlchemy URL, e.g. ``sqlite:///.talentloop/talentloop.db`` or
            ``postgresql://user@host/db`` (psycopg 3).

    Returns:
        The engine, with SQLite tuned for concurrent readers and one writer at a time. Its
        errors never quote a statement's parameters (names, emails, ratings are personal data).
    """
    url = normalize_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=16,
            max_overflow=32,
            pool_timeout=60,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
        )
    upgrade_to_head(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory that keeps loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


def writer_lock(sessions: sessionmaker[Session]) -> AbstractContextManager[object]:
    """One writer at a time per SQLite file within this process (a no-op elsewhere).

    SQLite admits one writer; without this, concurrent writers wait in SQLite's busy handler,
    which sleeps in growing steps (up to 100 ms) instead of handing over as soon as the lock
    frees. PostgreSQL needs no such lock.
    """
    bind = sessions.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is None or url.get_backend_name() != "sqlite":
        return nullcontext()
    key = str(url)
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.Lock())
