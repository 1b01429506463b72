"""A database error never quotes the statement's parameters: they hold personal data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from activities.store.engine import open_engine, session_factory
from activities.store.tables import EmployeeRow


def test_an_integrity_error_does_not_show_the_email(tmp_path: Path) -> None:
    sessions = session_factory(open_engine(f"sqlite:///{tmp_path / 'app.db'}"))
    row = dict(name="Rosa Silva", email="rosa.silva@example.com", department="HR", locale="en")
    with pytest.raises(IntegrityError) as err, sessions.begin() as s:
        # A role that does not exist: the foreign key refuses the row.
        s.add(EmployeeRow(id="E1", role_id="onet:no-such-role", **row))
    text = str(err.value)
    assert "rosa.silva@example.com" not in text and "Rosa Silva" not in text
    assert "hidden due to hide_parameters" in text
