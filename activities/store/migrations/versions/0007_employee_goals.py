"""Employee goals (issue 19): the goals table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:00:00

The table is defined in ``activities.store.goals``; importing it here puts it on
``Base.metadata`` wherever the migrations are loaded (the autogenerate comparison).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import activities.store.goals  # noqa: F401  (registers the table on Base.metadata)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "goals",
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("goal_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("aligned_to", sa.JSON(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("source_event", sa.String(length=256), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", "goal_id"),
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_table("goals")
