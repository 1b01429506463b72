"""`talentloop employee export`: one employee's rows, nobody else's, in a private file."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import talentloop

from activities.store.engine import open_engine, session_factory
from activities.store.tables import EmployeeRow
from talentloop.dev.seed import seed
from talentloop.dev.teststack import private_settings


def test_export_holds_the_employee_and_only_them(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    sessions = session_factory(open_engine(settings.db_url))
    seed(sessions, settings.onet_dir, employees=4)
    with sessions() as s:
        people = {row.id: row for row in s.query(EmployeeRow)}
    subject, other = sorted(people)[:2]

    out = tmp_path / "export.json"
    done = talentloop(
        "employee", "export", subject, "--no-workflow", "--out", str(out), env=settings.to_env()
    )
    assert done.exit_code == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    document = json.loads(out.read_text())
    assert document["employee_id"] == subject
    assert [r["id"] for r in document["database"]["employees"]] == [subject]
    text = out.read_text()
    assert people[subject].email in text and people[other].email not in text

    nobody = talentloop("employee", "export", "E99999", "--no-workflow", env=settings.to_env())
    assert nobody.exit_code == 2 and "nothing about employee E99999" in nobody.stderr
