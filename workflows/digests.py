"""The monitoring digests: a weekly digest to each manager, a daily one to HR ops.

Run by Temporal Schedules that `talentloop setup` creates (`DIGEST_SCHEDULES`). A run pages
through the recipients in id order and sends each their digest for the period its start falls
in (ISO week for managers, the day for HR ops), one activity each; the mail outbox keys each
digest by kind, recipient and period, so a repeated run (a Schedule's catch-up, a manual
trigger, a retried activity) sends nothing twice. Long runs continue as new with their cursor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.digests import DigestActivities
    from schemas.digests import (
        DigestInput,
        DigestKind,
        DigestReport,
        DigestSend,
        RecipientPage,
    )

DIGEST_SCHEDULES: dict[DigestKind, str] = {
    "manager": "digest-managers-weekly",
    "hr": "digest-hr-daily",
}
"""The Schedule id of each digest (one per deployment)."""

HISTORY_EVENTS = 2000
"""Continue as new once the run's history is this long."""

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))


def period_of(kind: DigestKind, at: datetime) -> str:
    """The period a run at `at` covers: ISO week (``2026-W49``) or day (``2026-12-02``)."""
    if kind == "manager":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.date().isoformat()


@workflow.defn
class DigestWorkflow:
    """Sends one digest kind to all its recipients for one period, each once."""

    @workflow.run
    async def run(self, inp: DigestInput) -> DigestReport:
        """Page through the recipients, sending each their digest."""
        as_of = inp.as_of or workflow.now()
        period = inp.period or period_of(inp.kind, as_of)
        after, sent, skipped = inp.after, inp.sent, inp.skipped
        while True:
            page = await workflow.execute_activity_method(
                DigestActivities.recipients,
                RecipientPage(kind=inp.kind, after=after),
                start_to_close_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=timedelta(hours=6),
                retry_policy=_RETRY,
            )
            if not page:
                return DigestReport(kind=inp.kind, period=period, sent=sent, skipped=skipped)
            for recipient in page:
                try:
                    out = await workflow.execute_activity_method(
                        DigestActivities.send,
                        DigestSend(
                            kind=inp.kind, recipient_id=recipient, period=period, as_of=as_of
                        ),
                        start_to_close_timeout=timedelta(minutes=2),
                        schedule_to_close_timeout=timedelta(hours=6),
                        retry_policy=_RETRY,
                    )
                except ActivityError:
                    workflow.logger.warning("digest for recipient %s not sent", recipient)
                    skipped += 1
                    continue
                if out.outcome == "sent":
                    sent += 1
                else:
                    skipped += 1
            after = page[-1]
            if workflow.info().get_current_history_length() > HISTORY_EVENTS:
                workflow.continue_as_new(
                    DigestInput(
                        kind=inp.kind,
                        period=period,
                        as_of=as_of,
                        after=after,
                        sent=sent,
                        skipped=skipped,
                    )
                )
