from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dbs import BuiltinDb, database, seed_small

from activities.lms.builtin import BuiltinLms
from activities.store.engine import open_engine, session_factory


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def builtin(db_url: str) -> Iterator[BuiltinDb]:
    engine = open_engine(db_url)
    sessions = session_factory(engine)
    seed_small(sessions)
    try:
        yield BuiltinDb(engine, sessions, BuiltinLms(sessions))
    finally:
        engine.dispose()
