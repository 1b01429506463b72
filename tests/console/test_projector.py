"""The read-model projector: idempotent, positioned, rebuildable (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from console_events import T0, TOPIC, burst, records
from sqlalchemy import Engine, select

from activities.store.engine import open_engine, session_factory
from activities.store.projector import Projector, Record
from activities.store.readmodel import READ_MODEL_TABLES, RmPlanItemRow, RmPositionRow
from schemas.learning import EmployeeLearningState, PlanItemState, TimelineEntry, Transition


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected row, without the bookkeeping time of the positions."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in READ_MODEL_TABLES:
            t = table.__table__
            cols = [c for c in t.columns if not (table is RmPositionRow and c.name == "updated_at")]
            rows = conn.execute(select(*cols)).all()
            out[t.name] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


def test_same_events_twice_leave_the_same_model(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        projector = Projector(session_factory(engine))
        recs = records(burst())
        first = projector.apply_outbound(recs)
        assert first.applied == len(recs) and first.duplicates == 0
        once = dump(engine)
        # Redelivered (same offsets), and republished by a retried activity (new offsets).
        again = projector.apply_outbound(recs)
        later = projector.apply_outbound(records(burst(), start=100))
        assert again.applied == 0 and later.applied == 0
        assert later.duplicates == len(recs)
        twice = dump(engine)
        positions = {p: o for p, o in projector.positions(TOPIC).items()}
        assert all(o > 100 for o in positions.values())
        once.pop("rm_positions"), twice.pop("rm_positions")
        assert once == twice
        with engine.connect() as conn:
            states = dict(
                conn.execute(
                    select(RmPlanItemRow.employee_id, RmPlanItemRow.state).where(
                        RmPlanItemRow.course_id == "course-a"
                    )
                ).all()
            )
        assert states["E00001"] == "overdue" and states["E00000"] == "enrolled"
    finally:
        engine.dispose()


def test_rebuild_equals_incremental_across_restarts(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        values = burst(9)
        recs = records(values)
        # Incremental: three batches, a new projector (a restart) reading the stored position.
        for lo, hi in ((0, 7), (7, 15), (15, len(recs))):
            projector = Projector(session_factory(engine))
            pos = projector.positions(TOPIC)
            todo = [r for r in recs[lo:hi] if r.offset >= pos.get(r.partition, 0)]
            projector.apply_outbound(todo)
            # A crash after the commit redelivers the batch: nothing changes.
            projector.apply_outbound(recs[lo:hi])
        incremental = dump(engine)
        projector = Projector(session_factory(engine))
        projector.reset()
        assert projector.positions(TOPIC) == {}
        projector.apply_outbound(recs)
        assert dump(engine) == incremental
    finally:
        engine.dispose()


def test_plan_snapshot_and_dead_letters(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        projector = Projector(session_factory(engine))
        state = EmployeeLearningState(
            employee_id="E00042",
            items=[
                PlanItemState(
                    course_id="big-course",
                    title="Big course",
                    hours=40,
                    reason="Programming 2→4 for objective Q3-cloud",
                    status="awaiting_approval",
                    source_event="review-42",
                    approver_id="E00007",
                    approval_requested_at=T0,
                    transitions=[
                        Transition(at=T0, status="proposed", why="gap"),
                        Transition(at=T0, status="awaiting_approval", why="40 h over 16 h"),
                    ],
                )
            ],
            timeline=[TimelineEntry(at=T0, kind="review", text="review received")],
        )
        projector.apply_plan(state)
        projector.apply_plan(state)
        snap = dump(engine)
        assert snap["rm_timeline"] and len(snap["rm_timeline"]) == 1
        with engine.connect() as conn:
            row = conn.execute(select(RmPlanItemRow)).one()
        assert row.state == "awaiting_approval" and row.approver_id == "E00007"
        dlq = [
            Record(
                "talentloop.dlq",
                0,
                i,
                b"{}",
                [("dlq.reason", b"schema-invalid"), ("dlq.topic", b"hr.reviews")],
                int((T0 + timedelta(seconds=i)).timestamp() * 1000),
            )
            for i in range(3)
        ]
        assert projector.apply_dead_letters(dlq) == 3
        assert projector.apply_dead_letters(dlq) == 0
        assert projector.positions("talentloop.dlq") == {0: 3}
    finally:
        engine.dispose()


def test_unreadable_records_are_passed_over(tmp_path: Any) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        projector = Projector(session_factory(engine))
        result = projector.apply_outbound(
            [Record(TOPIC, 0, 0, b"not json"), Record(TOPIC, 0, 1, b'{"type": "x"}')]
        )
        assert result.unreadable == 2
        assert projector.positions(TOPIC) == {0: 2}
    finally:
        engine.dispose()
