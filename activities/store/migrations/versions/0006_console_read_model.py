"""HR ops console: the read model (rm_*) and the console's users and audit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:58:00

The read-model tables are defined in ``activities.store.readmodel``; importing it here puts
them on ``Base.metadata`` wherever the migrations are loaded (the autogenerate comparison).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import activities.store.readmodel  # noqa: F401  (registers the tables on Base.metadata)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"], unique=False)
    op.create_table(
        "console_users",
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("employee_id", sa.String(length=128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "rm_applied_events",
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "rm_dead_letters",
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source_topic", sa.String(length=255), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partition", "offset"),
    )
    op.create_index(op.f("ix_rm_dead_letters_reason"), "rm_dead_letters", ["reason"], unique=False)
    op.create_table(
        "rm_gap_closures",
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("skill_id", sa.String(length=128), nullable=False),
        sa.Column("objective_id", sa.String(length=128), nullable=True),
        sa.Column("from_level", sa.Float(), nullable=False),
        sa.Column("to_level", sa.Float(), nullable=False),
        sa.Column("target_level", sa.Float(), nullable=False),
        sa.Column("closed_by", sa.String(length=16), nullable=False),
        sa.Column("closed_by_ref", sa.String(length=256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_rm_gap_closures_at", "rm_gap_closures", ["at"], unique=False)
    op.create_index(
        op.f("ix_rm_gap_closures_employee_id"), "rm_gap_closures", ["employee_id"], unique=False
    )
    op.create_table(
        "rm_plan_items",
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("enrollment_id", sa.String(length=256), nullable=True),
        sa.Column("source_event", sa.String(length=256), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("days_overdue", sa.Integer(), nullable=True),
        sa.Column("escalated_to", sa.String(length=128), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approver_id", sa.String(length=128), nullable=True),
        sa.Column("approval_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("notice_status", sa.String(length=16), nullable=True),
        sa.Column("notice_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", "course_id"),
    )
    op.create_index(
        "ix_rm_plan_items_approver_state", "rm_plan_items", ["approver_id", "state"], unique=False
    )
    op.create_index("ix_rm_plan_items_created", "rm_plan_items", ["created_at"], unique=False)
    op.create_index("ix_rm_plan_items_state_due", "rm_plan_items", ["state", "due"], unique=False)
    op.create_table(
        "rm_positions",
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition"),
    )
    op.create_table(
        "rm_rollouts",
        sa.Column("objective_set_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("employees_affected", sa.Integer(), nullable=False),
        sa.Column("enrollments", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("objective_set_id", "version"),
    )
    op.create_table(
        "rm_timeline",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        "ix_rm_timeline_employee_at", "rm_timeline", ["employee_id", "at"], unique=False
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_index("ix_rm_timeline_employee_at", table_name="rm_timeline")
    op.drop_table("rm_timeline")
    op.drop_table("rm_rollouts")
    op.drop_table("rm_positions")
    op.drop_index("ix_rm_plan_items_state_due", table_name="rm_plan_items")
    op.drop_index("ix_rm_plan_items_created", table_name="rm_plan_items")
    op.drop_index("ix_rm_plan_items_approver_state", table_name="rm_plan_items")
    op.drop_table("rm_plan_items")
    op.drop_index(op.f("ix_rm_gap_closures_employee_id"), table_name="rm_gap_closures")
    op.drop_index("ix_rm_gap_closures_at", table_name="rm_gap_closures")
    op.drop_table("rm_gap_closures")
    op.drop_index(op.f("ix_rm_dead_letters_reason"), table_name="rm_dead_letters")
    op.drop_table("rm_dead_letters")
    op.drop_table("rm_applied_events")
    op.drop_table("console_users")
    op.drop_index("ix_console_audit_at", table_name="console_audit")
    op.drop_table("console_audit")
