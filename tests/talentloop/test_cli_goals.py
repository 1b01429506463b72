"""`talentloop goals`: the import of a goal system's export, the goal and alignment views."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import talentloop

from activities.goals import GoalActivities
from activities.objectives import ObjectiveActivities
from activities.store.engine import open_engine, session_factory
from activities.store.tables import EmployeeRow, RoleRow
from schemas.events import GoalChanged, InboundEvent
from schemas.goals import GoalApplyRequest
from schemas.rollout import ObjectiveSetEvent
from schemas.skills import Objective, ObjectiveRequirement, ObjectiveSet
from talentloop.service.config import Settings
from talentloop.service.goal_import import goal_events
from talentloop.service.publishing import FileEvent, check_events

CSV = """goal_id,employee_id,title,change,due,weight,aligned_to,skills,updated_at
g-1,E00001,Cloud cert,set,2027-03-31,50,strategy/Q1;strategy/Q2,onet:2.B.3.e=4.5,
g-2,E00002,Lead the workshop,,2027-01-31,,,,2026-11-30T10:00:00Z
"""


def test_a_csv_export_becomes_valid_goal_events_with_stable_ids(tmp_path: Path) -> None:
    path = tmp_path / "goals.csv"
    path.write_text(CSV)
    events = goal_events(path)
    assert [e["data"]["goal_id"] for e in events] == ["g-1", "g-2"]
    first = events[0]["data"]
    assert first["aligned_to"] == [
        {"objective_set_id": "strategy", "objective_id": "Q1"},
        {"objective_set_id": "strategy", "objective_id": "Q2"},
    ]
    assert first["skills"] == [{"skill_id": "onet:2.B.3.e", "target_level": 4.5}]
    assert events[1]["data"]["change"] == "set" and events[1]["time"] == "2026-11-30T10:00:00Z"
    files = [FileEvent(path, n, e) for n, e in enumerate(events, 1)]
    assert check_events(Settings(), files) == []
    # The same export again: the same ids (the workflows apply each goal once).
    assert [e["id"] for e in goal_events(path)] == [e["id"] for e in events]
    json_path = tmp_path / "goals.json"
    json_path.write_text(json.dumps({"goals": [e["data"] for e in events]}))
    assert [e["id"] for e in goal_events(json_path)] == [e["id"] for e in events]


def test_import_refuses_an_invalid_export_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "goals.csv"
    path.write_text("goal_id,employee_id,title,due\ng-1,E00001,T,0001-01-01\n")
    result = talentloop("goals", "import", str(path))
    assert result.exit_code == 2
    assert "data.due: outside the accepted window" in result.stderr
    assert "nothing sent" in result.stderr


def test_goals_employee_and_alignment_show_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    sessions = session_factory(open_engine(url))
    with sessions.begin() as s:
        s.add(RoleRow(id="dev", title="Developer"))
        s.flush()
        s.add(EmployeeRow(id="E1", name="A", email="a@x.example", role_id="dev", department="P"))
    objective = Objective(
        id="Q1",
        title="Cloud",
        requirements=(ObjectiveRequirement(skill_id="onet:2.B.3.e", target=4),),
    )
    ObjectiveActivities(sessions).record(
        ObjectiveSetEvent(
            event_id="o1",
            source="t",
            objective_set=ObjectiveSet(
                id="strategy", version=1, effective_from="2026-01-01", objectives=(objective,)
            ),
        )
    )
    goal = GoalChanged.model_validate_json(
        json.dumps(
            {
                "goal_id": "g-1",
                "employee_id": "E1",
                "title": "Cloud cert",
                "change": "set",
                "aligned_to": [{"objective_set_id": "strategy", "objective_id": "Q1"}],
            }
        )
    )
    event = InboundEvent(event_id="e1", type="goal.changed.v1", source="t", goal=goal)
    GoalActivities(sessions).apply(GoalApplyRequest.of(event))
    env = {"TALENTLOOP_DATABASE_URL": url}
    shown = talentloop("goals", "E1", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert "g-1 [active, priority 3] Cloud cert" in shown.stdout
    assert "aligned to strategy@v1/Q1" in shown.stdout and "skills: onet:2.B.3.e" in shown.stdout
    report = talentloop("goals", "alignment", "--json", env=env)
    assert report.exit_code == 0, report.stderr
    total = json.loads(report.stdout)["total"]
    assert (total["employees"], total["employees_aligned"], total["share_aligned"]) == (1, 1, 1.0)
