"""Stored histories of EmployeeLearningWorkflow replay against the current code: a change
that is not deterministic (a new activity call where an old one was, a reordered timer)
fails here instead of breaking running workflows. Re-record after a deliberate, versioned
change with `TALENTLOOP_RECORD_HISTORIES=1 pytest tests/workflows/test_employee_timers.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.employee import EmployeeLearningWorkflow
from workflows.rollout import StrategyRolloutWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_stored() -> None:
    assert len(HISTORIES) >= 4, "record them: TALENTLOOP_RECORD_HISTORIES=1 pytest tests/workflows"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
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
