"""Objective-set files: a good one reads as the event will carry it; a bad one is refused with
the line of the offending field, in one line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from activities.rollout.authoring import (
    ObjectiveSetFileError,
    check_references,
    parse_objective_set,
    read_objective_set,
    to_event_data,
)
from activities.rollout.diff import diff_sets

DOCS = Path(__file__).resolve().parents[3] / "docs" / "examples"

GOOD = """\
id: strategy-2027
version: 2
effective_from: 2027-01-01
objectives:
  - id: data-literacy
    title: Data literacy
    priority: 3
    due: 2027-06-30
    requirements:
      - skill_id: onet:2.A.2.a
        target: 4.5
"""


def test_the_documented_examples_read_and_become_the_event_they_publish() -> None:
    new = read_objective_set(DOCS / "objectives-2027q1.yaml").objective_set
    old = read_objective_set(DOCS / "objectives-2026q4.yaml").objective_set
    assert (new.id, new.version, new.effective_from) == ("strategy-2027", 2, date(2027, 1, 1))
    assert [o.id for o in new.objectives] == ["data-literacy", "cloud-platform", "people-leaders"]
    assert new.objectives[1].requirements[1].importance == 4
    assert to_event_data(new).to_objective_set() == new
    assert old.version == 1


def test_json_reads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "set.json"
    path.write_text(
        '{"id": "s", "version": 1, "effective_from": "2027-01-01",\n'
        ' "objectives": [{"id": "o", "title": "T",\n'
        '   "requirements": [{"skill_id": "onet:2.A.2.a", "target": 9}]}]}\n'
    )
    with pytest.raises(ObjectiveSetFileError) as err:
        read_objective_set(path)
    assert str(err.value).startswith(f"{path}:3: objectives[0].requirements[0].target: ")
    assert "less than or equal to 7" in str(err.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD.replace("target: 4.5", "target: high"), 11, "requirements[0].target"),
        (GOOD.replace("target: 4.5", "target: 8"), 11, "less than or equal to 7"),
        (GOOD.replace("priority: 3", "priority: 9"), 7, "objectives[0].priority"),
        (GOOD.replace("    due: 2027-06-30\n", "    due: 2027-06-31\n"), 8, "objectives[0].due"),
        (GOOD.replace("    title: Data literacy\n", ""), 5, "objectives[0].title: Field required"),
        (GOOD.replace("version: 2\n", ""), 1, "version: Field required"),
        (GOOD.replace("    priority: 3\n", "    priorty: 3\n"), 7, "priorty: unknown field"),
        (GOOD.replace("target: 4.5", "target: 4.5\n        target: 5"), 12, "key given twice"),
        (
            GOOD + "      - skill_id: onet:2.A.2.a\n        target: 5\n",
            12,
            "skill 'onet:2.A.2.a' is required twice",
        ),
        (
            GOOD + "  - id: data-literacy\n    title: Again\n    requirements: []\n",
            12,
            "objective id 'data-literacy' repeats",
        ),
        (GOOD.replace("objectives:", "objectives: [\n"), 6, "not valid YAML"),
        ("- just\n- a list\n", 1, "is a list"),
    ],
)
def test_a_bad_file_is_refused_with_the_line_of_the_offending_field(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(ObjectiveSetFileError) as err:
        parse_objective_set(text, "q1.yaml")
    assert err.value.line == line, str(err.value)
    assert str(err.value).startswith(f"q1.yaml:{line}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_skills_and_roles_are_refused_with_their_line() -> None:
    authored = parse_objective_set(GOOD + "    roles: [onet:99-9999.00]\n", "q1.yaml")
    with pytest.raises(ObjectiveSetFileError) as err:
        check_references(authored, skills={"onet:2.A.2.a"}, roles={"onet:15-1251.00"})
    assert str(err.value) == (
        "q1.yaml:12: objectives[0].roles[0]: role 'onet:99-9999.00' is not in the directory"
    )
    with pytest.raises(ObjectiveSetFileError) as err:
        check_references(authored, skills=set(), roles={"onet:99-9999.00"})
    assert str(err.value).startswith("q1.yaml:10: objectives[0].requirements[0].skill_id: skill")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ObjectiveSetFileError) as err:
        read_objective_set(tmp_path / "nope.yaml")
    assert "cannot read" in str(err.value)


def test_the_diff_of_two_versions_names_what_changed() -> None:
    old = read_objective_set(DOCS / "objectives-2026q4.yaml").objective_set
    new = read_objective_set(DOCS / "objectives-2027q1.yaml").objective_set
    diff = diff_sets(old, new)
    assert (diff.old_version, diff.new_version) == (1, 2)
    assert [c.objective_id for c in diff.of_kind("added")] == ["people-leaders"]
    assert [c.objective_id for c in diff.of_kind("removed")] == ["key-accounts"]
    changed = {c.objective_id: c for c in diff.of_kind("changed")}
    assert set(changed) == {"cloud-platform", "data-literacy"}
    cloud = changed["cloud-platform"]
    assert cloud.fields == ("skills", "levels", "scope")
    assert cloud.skills_added == ("onet:2.B.4.g",)
    assert [(lc.skill_id, lc.old_target, lc.new_target) for lc in cloud.levels] == [
        ("onet:2.B.3.e", 5.0, 5.5)
    ]
    data = changed["data-literacy"]
    assert data.fields == ("skills", "levels", "due")
    assert "due 2027-03-31 -> 2027-06-30" in data.details
    assert diff.unchanged == ()
    # Nothing in force yet: everything is added; the same version twice: nothing changed.
    assert [c.change for c in diff_sets(None, old).changes] == ["added"] * 3
    assert diff_sets(new, new).changes == ()
    assert diff_sets(new, new).unchanged == ("cloud-platform", "data-literacy", "people-leaders")
