"""Approve from the email (issue 23): the table of used approval links.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:40:00

The table is defined in ``activities.store.approval_links``; importing it here puts it on
``Base.metadata`` wherever the migrations are loaded (the autogenerate comparison).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import activities.store.approval_links  # noqa: F401  (registers the table on Base.metadata)

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "used_approval_links",
        sa.Column("link_id", sa.String(length=64), nullable=False),
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("course_id", sa.String(length=256), nullable=False),
        sa.Column("approver_id", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("link_id"),
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_table("used_approval_links")
