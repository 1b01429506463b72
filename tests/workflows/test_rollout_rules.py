"""The rollout's rules without a server: who may act when, the canary's size, the health
gate's verdict, and the progress (rate, ETA) the query answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from schemas.rollout import (
    ObjectiveSetEvent,
    RolloutAction,
    RolloutCarry,
    RolloutConfig,
    ScopeHealth,
)
from schemas.skills import ObjectiveSet
from workflows.rollout_rules import (
    canary_size,
    check_cancel,
    check_decision,
    check_pause,
    check_resume,
    gate_verdict,
    progress_of,
)

CONFIG = RolloutConfig(approvers=("HR1",), canary_share=0.05, canary_count=10)
HR = RolloutAction(by="HR1", reason="because")


def carry(status: str, **over: object) -> RolloutCarry:
    return RolloutCarry.model_validate({"config": CONFIG, "status": status, **over})


def test_only_configured_approvers_decide_and_only_while_awaiting_approval() -> None:
    waiting = carry("awaiting-approval")
    check_decision(waiting, None, HR, approve=True)
    check_decision(waiting, None, RolloutAction(by="HR1"), approve=True)  # no reason needed
    with pytest.raises(ValueError, match="not an HR rollout approver"):
        check_decision(waiting, None, RolloutAction(by="E1", reason="x"), approve=True)
    with pytest.raises(ValueError, match="say why"):
        check_decision(waiting, None, RolloutAction(by="HR1"), approve=False)
    with pytest.raises(ValueError, match="not awaiting approval"):
        check_decision(waiting, (True, HR), HR, approve=False)
    with pytest.raises(ValueError, match="not awaiting approval"):
        check_decision(carry("running"), None, HR, approve=True)
    with pytest.raises(ValueError, match="starting"):
        check_decision(None, None, HR, approve=True)


def test_pause_resume_and_cancel_apply_only_to_a_running_rollout() -> None:
    running = carry("running")
    check_pause(running, HR)
    check_cancel(running, HR)
    with pytest.raises(ValueError, match="not paused"):
        check_resume(running, HR)
    paused = carry("gate", paused_by="HR1", reason="look")
    check_resume(paused, HR)
    check_cancel(paused, HR)
    with pytest.raises(ValueError, match="paused already"):
        check_pause(paused, HR)
    for ended in ("completed", "rejected", "superseded"):
        with pytest.raises(ValueError, match="only a running rollout"):
            check_pause(carry(ended), HR)
        with pytest.raises(ValueError, match="only a running rollout"):
            check_cancel(carry(ended), HR)
    check_pause(carry("awaiting-approval"), HR)  # held: once approved, it waits for resume
    check_resume(carry("awaiting-approval", paused_by="HR1"), HR)
    with pytest.raises(ValueError, match="only a running rollout"):
        check_cancel(carry("awaiting-approval"), HR)  # that is a rejection
    with pytest.raises(ValueError, match="say why"):
        check_cancel(running, RolloutAction(by="HR1"))


def test_the_canary_is_the_share_but_at_least_the_count_and_at_most_everyone() -> None:
    assert canary_size(10_000, CONFIG) == 500
    assert canary_size(100, CONFIG) == 10
    assert canary_size(4, CONFIG) == 4
    assert canary_size(0, CONFIG) == 0


def test_the_gate_passes_a_settled_canary_and_stops_on_failures_or_slowness() -> None:
    assert gate_verdict(ScopeHealth(in_scope=10, applied=10, failed=0), CONFIG, 0) == "pass"
    assert gate_verdict(ScopeHealth(in_scope=10, applied=9, failed=1), CONFIG, 0) == "pass"
    failing = gate_verdict(ScopeHealth(in_scope=10, applied=8, failed=2), CONFIG, 0)
    assert failing.startswith("2 of 10 canary employees failed")
    assert gate_verdict(ScopeHealth(in_scope=10, applied=5, failed=0), CONFIG, 60) == "wait"
    slow = gate_verdict(ScopeHealth(in_scope=10, applied=5, failed=0), CONFIG, 1800)
    assert "5 of 10 canary employees applied" in slow


def test_progress_counts_rate_and_eta() -> None:
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    event = ObjectiveSetEvent(
        event_id="ev",
        source="tests",
        objective_set=ObjectiveSet(id="s", version=2, effective_from=date(2026, 1, 1)),
    )
    c = carry("running", in_scope=1000, signalled=250, failed=10, started_at=start)
    p = progress_of(event, c, start + timedelta(seconds=50))
    assert (p.pending, p.rate_per_s, p.eta_s) == (740, 5.0, 148.0)
    assert progress_of(event, c.model_copy(update={"paused_by": "HR1"}), start).status == "paused"
