"""The plan policy in force, as an activity: what the worker's settings say now."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from schemas.learning import PolicySnapshot


class PolicyActivities:
    """Answers the policy in force for an employee (built by the worker from its settings).

    Args:
        policy_for: The policy, LMS call mode and version for an employee id; a deployment's
            settings give one for everybody.

    """

    def __init__(self, policy_for: Callable[[str], PolicySnapshot]) -> None:
        self._policy_for = policy_for

    @activity.defn(name="policy.current")
    def current(self, employee_id: str) -> PolicySnapshot:
        """The policy in force for `employee_id` now."""
        return self._policy_for(employee_id)
