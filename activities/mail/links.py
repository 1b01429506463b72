"""Signed Approve / Reject links for the approval emails.

A link carries a signed claim naming one decision (employee, course, approver, approve or
reject), when it expires (the end of the day the approval's SLA gives in ``respond_by``) and a
link id shared by the email's two links, derived from the email's dedupe key. The console
(`talentloop.console.app`) verifies it, shows a confirmation page on GET and decides on POST,
recording the link id in ``used_approval_links`` so that either link works once. Links are
deterministic: a retried email carries the same ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, URLSafeSerializer

from schemas.learning import NoticeRequest

SALT = "talentloop.approval-link.v1"
"""Keeps these signatures apart from the console's session cookies (same secret key)."""

LINK_TEMPLATES = frozenset({"approval_request", "approval_escalation"})
"""The notices whose recipient decides, and so get the links."""


class LinkRefused(Exception):
    """The link cannot decide anything; the message says why, for the person who clicked.

    Args:
        reason: ``invalid``, ``other-item`` or ``expired`` (a metric label).
        message: What the page says.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    """What a verified link allows: one decision on one item, by its approver, until expiry.

    Attributes:
        link_id: Shared by the email's Approve and Reject links; spent by the first use.
        employee_id: The employee whose plan item it decides.
        course_id: The item's course.
        approver_id: The approver the email went to (the decision is taken as them).
        approve: Approve (True) or reject (False).
        expires_at: After this instant the link is refused.
    """

    link_id: str
    employee_id: str
    course_id: str
    approver_id: str
    approve: bool
    expires_at: datetime

    @property
    def decision(self) -> str:
        """``approve`` or ``reject``."""
        return "approve" if self.approve else "reject"


def link_id_for(dedupe_key: str) -> str:
    """The link id of the approval email sent under `dedupe_key`."""
    return hashlib.sha256(f"approval-link:{dedupe_key}".encode()).hexdigest()[:32]


def expiry_for(respond_by: str) -> datetime:
    """The end (UTC) of the day the approval must be answered by (the SLA's ``respond_by``)."""
    day = date.fromisoformat(respond_by)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


class ApprovalLinks:
    """Signs and verifies approval links.

    Args:
        secret: The console's secret key (the console verifies with the same key).
        public_url: The console's URL as people reach it, e.g. ``https://hr.example.com/``.
    """

    def __init__(self, secret: str, public_url: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)
        self._base = public_url.rstrip("/")

    def sign(self, claim: LinkClaim) -> str:
        """The token for `claim`."""
        return str(
            self._serializer.dumps(
                {
                    "l": claim.link_id,
                    "e": claim.employee_id,
                    "c": claim.course_id,
                    "a": claim.approver_id,
                    "d": claim.decision,
                    "x": int(claim.expires_at.timestamp()),
                }
            )
        )

    def url(self, claim: LinkClaim) -> str:
        """The link for `claim`: the console's confirmation page for that item."""
        item = f"{quote(claim.employee_id, safe='')}/{quote(claim.course_id, safe='')}"
        path = f"/approval-link/{item}"
        return f"{self._base}{path}?{urlencode({'t': self.sign(claim)})}"

    def for_notice(self, req: NoticeRequest) -> dict[str, str] | None:
        """The ``approve`` and ``reject`` links (and ``expires``) for an approval email.

        None for other templates, or when the notice says no ``respond_by`` (no expiry known).
        """
        respond_by = req.facts.get("respond_by")
        if req.template not in LINK_TEMPLATES or not req.courses or not respond_by:
            return None
        base = LinkClaim(
            link_id=link_id_for(req.dedupe_key),
            employee_id=req.employee.id,
            course_id=req.courses[0].course_id,
            approver_id=req.to.id,
            approve=True,
            expires_at=expiry_for(respond_by),
        )
        reject = replace(base, approve=False)
        return {
            "approve": self.url(base),
            "reject": self.url(reject),
            "expires": base.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        }

    def verify(
        self, token: str, employee_id: str, course_id: str, now: datetime | None = None
    ) -> LinkClaim:
        """The claim of a genuine, unexpired `token` for the item (employee, course).

        Raises:
            LinkRefused: Tampered or not ours, for another item, or expired.
        """
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            raise LinkRefused(
                "invalid", "This link is not valid: it was changed or cut short."
            ) from None
        try:
            claim = LinkClaim(
                link_id=str(data["l"]),
                employee_id=str(data["e"]),
                course_id=str(data["c"]),
                approver_id=str(data["a"]),
                approve=data["d"] == "approve",
                expires_at=datetime.fromtimestamp(int(data["x"]), UTC),
            )
        except (KeyError, TypeError, ValueError):
            raise LinkRefused("invalid", "This link is not valid.") from None
        if (claim.employee_id, claim.course_id) != (employee_id, course_id):
            raise LinkRefused("other-item", "This link is for another request.")
        if (now or datetime.now(UTC)) >= claim.expires_at:
            raise LinkRefused(
                "expired",
                f"This link expired on {claim.expires_at:%Y-%m-%d %H:%M} UTC: the request has "
                "moved on (escalated or decided by default). Open the console to see it.",
            )
        return claim
