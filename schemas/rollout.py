"""Inputs and outputs of the strategy rollout workflow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.skills import ObjectiveSet


class ObjectiveSetEvent(BaseModel):
    """A validated `objectives.changed` event, as handed to the rollout workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    source: str
    objective_set: ObjectiveSet
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def workflow_id(self) -> str:
        """`rollout-<set id>-v<version>`: one rollout per objective-set version."""
        return f"rollout-{self.objective_set.id}-v{self.objective_set.version}"


class RolloutProgress(BaseModel):
    """What the rollout's `progress` query answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective_set: str
    version: int
    status: str
    objectives: int
    event_id: str
