"""Every employee workflow the integration session ran replays deterministically.

Named to run last: by then the session's reviews, moves, completions, rebalances and
restarts have produced histories of every path through the workflow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from talentloop.service.config import Settings
from talentloop.service.worker import WORKFLOWS, workflow_runner


async def test_every_history_of_the_session_replays(settings: Settings, client: Client) -> None:
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(settings),
    )
    listing = client.list_workflows("WorkflowType = 'EmployeeLearningWorkflow'")
    histories = [h async for h in listing.map_histories()]
    assert histories, "the session ran no employee workflow"

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    assert results.replay_failures == {}
