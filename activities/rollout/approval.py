"""The figures an approver sees before a rollout starts: its preview, summarised.

The same computation as ``talentloop rollout preview`` (:func:`.preview.preview_authored`),
run by the rollout workflow while it awaits approval; nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from activities.rollout.authoring import AuthoredSet, ObjectiveSetFileError
from activities.rollout.preview import PlanRules, preview_authored
from schemas.learning import LearningPolicy
from schemas.rollout import ApprovalSummary
from schemas.skills import ObjectiveSet


class ApprovalPreview:
    """Previews a version for its approver with the planner's policy and approval rules."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        policy: LearningPolicy,
        rules: PlanRules,
        policy_version: str = "",
    ) -> None:
        """Build it over the app database with the employee workflow's policy and rules."""
        self._sessions = sessions
        self._policy = policy
        self._rules = rules
        self._policy_version = policy_version

    def __call__(self, objective_set: ObjectiveSet) -> ApprovalSummary:
        """The preview's figures; `unavailable` says why there are none."""
        authored = AuthoredSet(objective_set=objective_set, source=objective_set.id, lines={})
        try:
            found = preview_authored(
                self._sessions,
                authored,
                on=None,
                now=datetime.now(UTC),
                policy=self._policy,
                rules=self._rules,
                policy_version=self._policy_version,
            )
        except ObjectiveSetFileError as err:
            return ApprovalSummary(unavailable=str(err))
        s = found.summary
        return ApprovalSummary(
            on=s.on.isoformat(),
            in_scope=s.in_scope,
            affected=s.affected,
            new_gaps=s.new_gaps,
            closed_gaps=s.closed_gaps,
            enrollments_create=s.enrollments_create,
            enrollments_withdraw=s.enrollments_withdraw,
            hours_total=s.hours_total,
            cost_total=s.cost_total,
            approvals=s.approvals,
            emails=s.emails,
            overflow_sessions=s.overflow_sessions,
        )
