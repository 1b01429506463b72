"""HR ops console: indexes its queries need (read model, employees, evidence).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:20:00

The read-model indexes are declared in ``activities.store.readmodel``; those on the app's own
tables (``employees``, ``evidence``) too, beside the read model, since the console's queries
are what needs them.
"""

from __future__ import annotations

from alembic import op

import activities.store.readmodel  # noqa: F401  (registers the indexes on Base.metadata)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.drop_index("ix_rm_plan_items_state_due", table_name="rm_plan_items")
    op.create_index(
        "ix_rm_plan_items_state_employee",
        "rm_plan_items",
        ["state", "employee_id", "course_id"],
        unique=False,
    )
    op.create_index(
        "ix_rm_plan_items_state_requested",
        "rm_plan_items",
        ["state", "approval_requested_at"],
        unique=False,
    )
    op.create_index("ix_rm_plan_items_enrolled", "rm_plan_items", ["enrolled_at"], unique=False)
    op.create_index("ix_rm_plan_items_completed", "rm_plan_items", ["completed_at"], unique=False)
    op.create_index("ix_rm_plan_items_notice", "rm_plan_items", ["notice_status"], unique=False)
    # On the app's own tables; a database made by `create_all` may have them already.
    op.create_index(
        "ix_employees_manager", "employees", ["manager_id"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_employees_department", "employees", ["department"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_evidence_observed_source",
        "evidence",
        ["observed_at", "source", "employee_id", "ref"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_index("ix_evidence_observed_source", table_name="evidence")
    op.drop_index("ix_employees_department", table_name="employees")
    op.drop_index("ix_employees_manager", table_name="employees")
    op.drop_index("ix_rm_plan_items_notice", table_name="rm_plan_items")
    op.drop_index("ix_rm_plan_items_completed", table_name="rm_plan_items")
    op.drop_index("ix_rm_plan_items_enrolled", table_name="rm_plan_items")
    op.drop_index("ix_rm_plan_items_state_requested", table_name="rm_plan_items")
    op.drop_index("ix_rm_plan_items_state_employee", table_name="rm_plan_items")
    op.create_index("ix_rm_plan_items_state_due", "rm_plan_items", ["state", "due"], unique=False)
