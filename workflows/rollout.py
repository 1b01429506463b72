"""StrategyRolloutWorkflow: one per objective-set version (`rollout-<set>-v<version>`).

This first version records the set so that every later gap computation applies it; the
diff, preview, approval and waves of re-assessment build on it.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.calls import call_remote

with workflow.unsafe.imports_passed_through():
    from activities.objectives import ObjectiveActivities
    from schemas.rollout import ObjectiveSetEvent, RolloutProgress
    from workflows.search_attributes import OBJECTIVE_SET


@workflow.defn
class StrategyRolloutWorkflow:
    """Rolls one objective-set version out."""

    def __init__(self) -> None:
        """No progress yet."""
        self._progress: RolloutProgress | None = None

    @workflow.query
    def progress(self) -> RolloutProgress | None:
        """Where the rollout is."""
        return self._progress

    @workflow.run
    async def run(self, event: ObjectiveSetEvent) -> RolloutProgress:
        """Record the objective-set version; later versions of this workflow roll it out."""
        objective_set = event.objective_set
        workflow.upsert_search_attributes(
            [OBJECTIVE_SET.value_set(f"{objective_set.id}@v{objective_set.version}")]
        )
        self._progress = RolloutProgress(
            objective_set=objective_set.id,
            version=objective_set.version,
            status="recording",
            objectives=len(objective_set.objectives),
            event_id=event.event_id,
        )
        new = await call_remote(ObjectiveActivities.record, event, "rollout-record")
        self._progress = self._progress.model_copy(
            update={"status": "recorded" if new else "already-recorded"}
        )
        return self._progress
