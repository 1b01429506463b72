"""`talentloop users ...`: refusals in one line, and the list."""

from __future__ import annotations

import os
from pathlib import Path

from support.cli import talentloop

from activities.store.engine import open_engine, session_factory
from talentloop.console.auth import add_user


def test_users_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    env = {**os.environ, "TALENTLOOP_DATABASE_URL": url, "TALENTLOOP_STATE_DIR": str(tmp_path)}
    short = talentloop("users", "add", "ann", "--role", "hr_admin", "--password-stdin", env=env)
    assert short.exit_code == 2 and "at least 10 characters" in short.stderr
    engine = open_engine(url)
    add_user(session_factory(engine), "ann", "a long enough password", "hr_viewer")
    engine.dispose()
    listed = talentloop("users", "list", env=env)
    assert listed.exit_code == 0 and "ann" in listed.stdout and "hr_viewer" in listed.stdout
    gone = talentloop("users", "disable", "nobody", "--reason", "x", env=env)
    assert gone.exit_code == 2 and "no console user 'nobody'" in gone.stderr
    done = talentloop("users", "disable", "ann", "--reason", "left", env=env)
    assert done.exit_code == 0 and "disabled" in done.stdout
