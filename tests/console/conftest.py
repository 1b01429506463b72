from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dbs import database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url
