"""The console's queries on SQLite and PostgreSQL: scope, funnel, heatmap, filters."""

from __future__ import annotations

from datetime import UTC, datetime

from console_server import seed

from activities.store.engine import open_engine, session_factory
from talentloop.console import queries
from talentloop.console.auth import User

ADMIN = User("admin", "hr_admin", None)
LEAD = User("lead", "manager", "M0002")
HEAD = User("head", "manager", "M0001")


def test_queries_answer_the_same_on_both_databases(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        sessions = session_factory(engine)
        seed(sessions)
        now = datetime.now(UTC)
        with sessions() as s:
            o = queries.overview(s, ADMIN, queries.Period.last_days(3650), 5, now)
            assert (o.overdue, o.approvals_waiting, o.approvals_past_sla) == (2, 3, 1)
            assert o.reviews == 14 and o.dead_letters == 0
            mine = queries.overview(s, LEAD, queries.Period.last_days(3650), 5, now)
            assert mine.approvals_waiting == 2 and mine.dead_letters is None
            rows, total = queries.items(s, LEAD, queries.ItemFilter(q="S0"), 1, 5, now)
            assert total == 0 and rows == []
            rows, total = queries.items(s, ADMIN, queries.ItemFilter(department="Sales"), 1, 5, now)
            assert [r.employee_id for r in rows] == ["S00001"]
            assert queries.may_read_employee(s, HEAD, "E00010")
            assert not queries.may_read_employee(s, HEAD, "E00003")
            assert queries.may_decide(s, HEAD, "E00010", "big-b") == "M0001"
            assert queries.may_decide(s, LEAD, "E00010", "big-b") is None
            assert queries.may_decide(s, ADMIN, "E00010", "big-b") == "M0001"
            h = queries.heatmap(s, ADMIN, now.date())
            assert h.departments == ["Eng", "Sales"]
            share, n, _change = h.cells[("Eng", "prog")]
            assert n == 9 and 0 < share < 1
    finally:
        engine.dispose()
