"""Stored histories of EmployeeLearningWorkflow replay against the current code: a change
that is not deterministic (a new activity call where an old one was, a reordered timer)
fails here instead of breaking running workflows.

`histories/` holds the first recordings; `histories/vX.Y.Z/` those of each released version,
with `RECORDED_AT` naming the commit they were recorded at. Every folder is replayed, and none
is ever re-recorded: a change to a workflow's commands is gated with `workflow.patched`, and a
new version's histories go into a new folder
(`TALENTLOOP_RECORD_HISTORIES=vX.Y.Z pytest tests/workflows/test_employee_timers.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.employee import EmployeeLearningWorkflow
from workflows.rollout import StrategyRolloutWorkflow

ROOT = Path(__file__).parent / "histories"
HISTORIES = sorted(ROOT.rglob("*.json"))
VERSIONS = sorted(p for p in ROOT.iterdir() if p.is_dir())


def test_histories_are_stored() -> None:
    assert len(list(ROOT.glob("*.json"))) >= 4
    assert VERSIONS, "record them: TALENTLOOP_RECORD_HISTORIES=vX.Y.Z pytest tests/workflows"
    for version in VERSIONS:
        assert len(list(version.glob("*.json"))) >= 4, version
        commit = (version / "RECORDED_AT").read_text().split()[0]
        assert len(commit) == 40 and int(commit, 16) >= 0, version


@pytest.mark.parametrize(
    "path", HISTORIES, ids=[str(p.relative_to(ROOT).with_suffix("")) for p in HISTORIES]
)
async def test_stored_history_replays_deterministically(path: Path) -> None:
    raw = path.read_text()
    workflow_id = json.loads(raw)["events"][0]["workflowExecutionStartedEventAttributes"][
        "workflowType"
    ]["name"]
    assert workflow_id == "EmployeeLearningWorkflow"
    replayer = Replayer(
        workflows=[EmployeeLearningWorkflow, StrategyRolloutWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(path.stem, raw), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
