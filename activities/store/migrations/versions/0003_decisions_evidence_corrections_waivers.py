"""Decisions: review corrections on evidence, retired roles, HR's gap waivers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("source_event", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("event_time", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("roles") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "gap_waivers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("skill_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waived_by", sa.String(length=128), nullable=False),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_by", sa.String(length=128), nullable=True),
        sa.Column("restore_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_gap_waivers_employee_skill", "gap_waivers", ["employee_id", "skill_id"], unique=False
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_index("ix_gap_waivers_employee_skill", table_name="gap_waivers")
    op.drop_table("gap_waivers")
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("event_time")
        batch.drop_column("source_event")
