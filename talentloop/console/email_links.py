"""The ledger of used approval links: the first POST through a link spends it (both links).

A link is claimed (a row in ``used_approval_links``) before the decision is sent, so two
clicks racing each other decide once; if the decision cannot be sent at all (no connection to
Temporal) the claim is released and the link still works.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from activities.mail.links import LinkClaim
from activities.store.approval_links import UsedApprovalLinkRow
from activities.store.engine import writer_lock


def used(sessions: sessionmaker[Session], link_id: str) -> UsedApprovalLinkRow | None:
    """The record of the link's use, or None while it is unused."""
    with sessions() as s:
        row = s.get(UsedApprovalLinkRow, link_id)
        if row is not None:
            s.expunge(row)
        return row


def claim(sessions: sessionmaker[Session], link: LinkClaim) -> bool:
    """Spend the link; False when it was spent already (by this or its sibling link)."""
    try:
        with writer_lock(sessions), sessions.begin() as s:
            if s.get(UsedApprovalLinkRow, link.link_id) is not None:
                return False
            s.add(
                UsedApprovalLinkRow(
                    link_id=link.link_id,
                    employee_id=link.employee_id,
                    course_id=link.course_id,
                    approver_id=link.approver_id,
                    decision=link.decision,
                    used_at=datetime.now(UTC),
                    outcome="deciding",
                )
            )
    except IntegrityError:
        return False
    return True


def finish(sessions: sessionmaker[Session], link_id: str, outcome: str) -> None:
    """Record what came of the decision the link carried."""
    with writer_lock(sessions), sessions.begin() as s:
        row = s.get(UsedApprovalLinkRow, link_id)
        if row is not None:
            row.outcome = outcome[:1000]


def release(sessions: sessionmaker[Session], link_id: str) -> None:
    """Un-spend the link: its decision could not be sent."""
    with writer_lock(sessions), sessions.begin() as s:
        row = s.get(UsedApprovalLinkRow, link_id)
        if row is not None:
            s.delete(row)
