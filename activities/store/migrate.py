"""Schema migrations with Alembic, driven from code.

`upgrade_to_head` brings a database to the newest revision; `open_engine` calls it, so every
process that opens the database finds the schema it expects. Concurrent openers are
serialised: a lock file next to a SQLite database, a transaction-scoped advisory lock on
PostgreSQL (whose DDL is transactional). A database created before migrations existed (by
``create_all``) is stamped with the baseline revision first.

New revisions: ``python -m activities.store.migrate revision --url URL -m "what changed"``
autogenerates one from ``activities.store.tables`` against a database at head.
"""

from __future__ import annotations

import argparse
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory (env.py and versions/)."""
BASELINE = "0001"
"""The revision holding the tables that existed before migrations did."""
_PG_LOCK_KEY = 7_262_011_001
"""Advisory lock key that serialises migrations on PostgreSQL."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration over the package's script directory.

    Args:
        url: The database URL, for runs that open their own connection (the CLI).

    Returns:
        The configuration; callers may put a connection in ``attributes["connection"]``.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revisions() -> set[str]:
    """The head revision id(s) of the script directory."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(conn: Connection) -> set[str]:
    """The revision id(s) the database is at (empty when never migrated)."""
    return set(MigrationContext.configure(conn).get_current_heads())


@contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database behind `engine` to the newest revision; no-op when it is there.

    Args:
        engine: An engine on SQLite or PostgreSQL.
    """
    heads = head_revisions()
    lock = _sqlite_lock(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with lock, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        current = current_revisions(conn)
        if current == heads:
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        if not current and inspect(conn).has_table("courses"):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")


def main(argv: list[str] | None = None) -> None:
    """``python -m activities.store.migrate {upgrade,current,revision} --url URL``."""
    parser = argparse.ArgumentParser(prog="python -m activities.store.migrate")
    parser.add_argument("action", choices=["upgrade", "current", "revision"])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the database")
    parser.add_argument("-m", "--message", default="schema change")
    parser.add_argument("--rev-id", default=None, help="revision id, e.g. 0003")
    args = parser.parse_args(argv)
    if args.action == "revision":
        command.revision(
            alembic_config(args.url), message=args.message, autogenerate=True, rev_id=args.rev_id
        )
        return
    engine = create_engine(args.url)
    try:
        if args.action == "upgrade":
            upgrade_to_head(engine)
        with engine.connect() as conn:
            print(", ".join(sorted(current_revisions(conn))) or "(empty)")
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
