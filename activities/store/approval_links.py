"""Approval links that were used: each signed Approve/Reject link decides once.

The approval email's two links share one link id (derived from the email's dedupe key); the
first POST through either records it here, so both are spent. Revision 0009 creates the table
and imports this module so that ``Base.metadata`` lists it wherever the migrations are loaded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from activities.store.tables import Base


class UsedApprovalLinkRow(Base):
    """A spent approval link: which decision it carried, when, and what came of it."""

    __tablename__ = "used_approval_links"
    link_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(128))
    course_id: Mapped[str] = mapped_column(String(256))
    approver_id: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(Text, default="")
