"""The monitoring digests' activities: who gets one, and each recipient's digest, sent once.

Figures come from the console's read model (``rm_*``) and the directory; each digest is
rendered from ``templates/<locale>/digest_<kind>.*`` in the recipient's locale and sent through
the mail outbox under ``digest:<kind>:<recipient>:<period>``, so a period's digest goes out
once however often the run is repeated. A recipient with nothing to report gets no email.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail.activities import MailActivities
from activities.store.readmodel import ConsoleUserRow, RmDeadLetterRow, RmPlanItemRow
from activities.store.tables import EmployeeRow
from schemas.digests import DigestSend, DigestSent, RecipientPage
from schemas.learning import Recipient

HR_ROLES = ("hr_admin", "hr_viewer")
"""Console roles whose users (with an employee id) get the HR-ops digest."""


def dedupe_key(req: DigestSend) -> str:
    """The outbox key of one recipient's digest for one period."""
    return f"digest:{req.kind}:{req.recipient_id}:{req.period}"


class DigestActivities:
    """Builds and sends the digests.

    Args:
        sessions: The app database (read model and directory).
        mail: The mail activities (renderer, SMTP sender and outbox).
        sla_days: The approval SLA, for "approvals past their SLA".
    """

    def __init__(
        self, sessions: sessionmaker[Session], mail: MailActivities, sla_days: int
    ) -> None:
        self._sessions = sessions
        self._mail = mail
        self._sla = timedelta(days=sla_days)

    def _recipients(self, req: RecipientPage) -> list[str]:
        with self._sessions() as s:
            if req.kind == "manager":
                query = (
                    select(EmployeeRow.manager_id)
                    .where(
                        EmployeeRow.active.is_(True),
                        EmployeeRow.manager_id.is_not(None),
                        EmployeeRow.manager_id > req.after,
                    )
                    .distinct()
                    .order_by(EmployeeRow.manager_id)
                )
            else:
                query = (
                    select(ConsoleUserRow.employee_id)
                    .where(
                        ConsoleUserRow.active.is_(True),
                        ConsoleUserRow.role.in_(HR_ROLES),
                        ConsoleUserRow.employee_id.is_not(None),
                        ConsoleUserRow.employee_id > req.after,
                    )
                    .distinct()
                    .order_by(ConsoleUserRow.employee_id)
                )
            return [str(r) for r in s.scalars(query.limit(req.limit)) if r]

    @activity.defn(name="digests.recipients")
    async def recipients(self, req: RecipientPage) -> list[str]:
        """The next recipients' employee ids, in id order after ``req.after``."""
        return await asyncio.to_thread(self._recipients, req)

    def _manager_context(self, s: Session, manager: str, as_of: datetime) -> dict[str, Any]:
        team = select(EmployeeRow.id).where(EmployeeRow.manager_id == manager)
        query = select(EmployeeRow.id, EmployeeRow.name).where(EmployeeRow.id.in_(team))
        names = {str(r[0]): str(r[1]) for r in s.execute(query)}
        item = RmPlanItemRow

        def rows(*where: Any) -> list[dict[str, Any]]:
            found = s.scalars(select(item).where(*where).order_by(item.employee_id, item.course_id))
            return [
                {
                    "employee_id": r.employee_id,
                    "employee": names.get(r.employee_id, r.employee_id),
                    "course": r.title or r.course_id,
                    "due": r.due,
                    "days_overdue": r.days_overdue,
                    "requested": r.approval_requested_at,
                }
                for r in found
            ]

        week = as_of - timedelta(days=7)
        return {
            "overdue": rows(item.employee_id.in_(team), item.state == "overdue"),
            "approvals": rows(item.approver_id == manager, item.state == "awaiting_approval"),
            "completed": rows(
                item.employee_id.in_(team),
                item.state == "completed",
                item.completed_at >= week,
                item.completed_at < as_of,
            ),
        }

    def _hr_context(self, s: Session, as_of: datetime) -> dict[str, Any]:
        day = as_of - timedelta(days=1)
        letters: Counter[str] = Counter()
        for reason, n in s.execute(
            select(RmDeadLetterRow.reason, func.count())
            .where(RmDeadLetterRow.at >= day, RmDeadLetterRow.at < as_of)
            .group_by(RmDeadLetterRow.reason)
        ):
            letters[str(reason)] = int(n)
        item = RmPlanItemRow
        failed = s.scalar(
            select(func.count()).select_from(item).where(item.notice_status == "failed")
        )
        past_sla = s.scalar(
            select(func.count())
            .select_from(item)
            .where(
                item.state == "awaiting_approval",
                or_(
                    and_(item.escalations == 0, item.approval_requested_at < as_of - self._sla),
                    item.approval_requested_at < as_of - 2 * self._sla,
                ),
            )
        )
        return {
            "dead_letters": sorted(letters.items()),
            "dead_letters_total": sum(letters.values()),
            "failed_notices": int(failed or 0),
            "past_sla": int(past_sla or 0),
        }

    def _build(self, req: DigestSend) -> tuple[Recipient | None, dict[str, Any], bool]:
        with self._sessions() as s:
            person = s.get(EmployeeRow, req.recipient_id)
            if person is None or not person.active:
                return None, {}, False
            to = Recipient(
                id=person.id, name=person.name, email=person.email or None, locale=person.locale
            )
            if req.kind == "manager":
                ctx = self._manager_context(s, person.id, req.as_of)
                anything = bool(ctx["overdue"] or ctx["approvals"] or ctx["completed"])
            else:
                ctx = self._hr_context(s, req.as_of)
                anything = bool(
                    ctx["dead_letters_total"] or ctx["failed_notices"] or ctx["past_sla"]
                )
        ctx["period"] = req.period
        ctx["as_of"] = req.as_of
        return to, ctx, anything

    @activity.defn(name="digests.send")
    async def send(self, req: DigestSend) -> DigestSent:
        """Send the recipient's digest for the period, unless sent already or empty.

        A recipient without a valid address is skipped (``no-address``), never retried.
        """
        to, ctx, anything = await asyncio.to_thread(self._build, req)
        if to is None:
            return DigestSent(recipient_id=req.recipient_id, outcome="no-address")
        if not anything:
            return DigestSent(recipient_id=req.recipient_id, outcome="empty")
        try:
            result = await self._mail.deliver(dedupe_key(req), f"digest_{req.kind}", to, ctx)
        except ValueError:
            return DigestSent(recipient_id=req.recipient_id, outcome="no-address")
        except LookupError as err:  # a template missing: a release problem, not transient
            raise ApplicationError(str(err), type="TemplateMissing", non_retryable=True) from err
        return DigestSent(
            recipient_id=req.recipient_id, outcome="sent" if result.sent_now else "duplicate"
        )
