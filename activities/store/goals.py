"""The goals table: each employee's own goals, as the latest ``goal.changed`` left them.

Defined here, beside the other tables on ``Base.metadata``; revision 0007 creates it and
imports this module so that the autogenerate comparison sees it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from activities.store.tables import Base


class GoalRow(Base):
    """One employee goal: its latest state, and the event that set it.

    ``title`` is personal data: shown to the employee and HR, never logged. ``aligned_to`` is
    a list of ``{"objective_set_id", "objective_id"}``; ``skills`` a list of
    ``{"skill_id", "target_level"}`` (empty: derived from the aligned objectives).
    """

    __tablename__ = "goals"
    employee_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    aligned_to: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    skills: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    source_event: Mapped[str] = mapped_column(String(256))
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
