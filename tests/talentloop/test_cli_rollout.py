"""`talentloop rollout preview`: one line and a non-zero exit for bad input; a summary and the
per-employee detail for a good file, over a seeded SQLite database."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from support.cli import talentloop

from activities.store.engine import open_engine, session_factory
from talentloop.dev.seed import seed
from talentloop.service.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("cli-rollout") / "app.db"
    url = f"sqlite:///{path}"
    seed(session_factory(open_engine(url)), Settings().onet_dir, employees=30)
    return {**os.environ, "TALENTLOOP_DATABASE_URL": url}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id: s\nversion: 1\neffective_from: 2027-01-01\nobjectives:\n  - id: o\n    title: T\n"
            "    requirements:\n      - skill_id: onet:2.A.2.a\n        target: eight\n",
            ":9: objectives[0].requirements[0].target: Input should be a valid number",
        ),
        (
            "id: s\nversion: 1\neffective_from: 2027-01-01\nobjectives:\n  - id: o\n    title: T\n"
            "    requirements:\n      - skill_id: onet:9.Z.z\n        target: 4\n",
            ":8: objectives[0].requirements[0].skill_id: skill 'onet:9.Z.z' is not in the skills",
        ),
        ("id: s\nversion: [\n", ":3: not valid YAML"),
    ],
)
def test_a_bad_file_is_one_line_with_its_line(
    env: dict[str, str], tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    result = talentloop("rollout", "preview", str(path), env=env)
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"talentloop: {path}:")
    assert message in lines[0]


def test_a_missing_file_and_a_bad_output_name_are_one_line(env: dict[str, str]) -> None:
    missing = talentloop("rollout", "preview", "/nonexistent/q1.yaml", env=env)
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = talentloop(
        "rollout", "preview", str(DOCS / "objectives-2027q1.yaml"), "--output", "x.txt", env=env
    )
    assert bad.exit_code == 2 and ".json or .csv" in bad.stderr


def test_preview_prints_the_summary_and_writes_the_detail(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "preview.json"
    file = str(DOCS / "objectives-2027q1.yaml")
    result = talentloop("rollout", "preview", file, "--output", str(out), env=env)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for expected in (
        "objective set strategy-2027 v2",
        "objectives: 3 added, 0 removed, 0 changed",
        "employees: ",
        "by department: ",
        "gaps: ",
        "enrollments: ",
        "hours: ",
        "p95",
        "cost: ",
        "approvals: ",
        "emails: ",
        "nothing was written",
    ):
        assert expected in text, expected
    body = json.loads(out.read_text())
    assert body["summary"]["in_scope"] == 30
    assert len(body["employees"]) == body["summary"]["affected"] > 0
    assert "name" not in body["employees"][0] and "email" not in body["employees"][0]
    csv_out = tmp_path / "preview.csv"
    again = talentloop("rollout", "preview", file, "-o", str(csv_out), env=env)
    assert again.exit_code == 0, again.stderr
    rows = list(csv.DictReader(csv_out.open()))
    assert len(rows) == body["summary"]["affected"]
    assert rows[0]["employee_id"] == body["employees"][0]["employee_id"]
