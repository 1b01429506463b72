"""The mail activity: render a notification and send it once per dedupe key (outbox table)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

import aiosmtplib
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import FailureType, permanent
from activities.mail.links import ApprovalLinks
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.metrics import EMAILS
from activities.store.engine import writer_lock
from activities.store.tables import MailOutboxRow
from schemas.learning import MailResult, NoticeRequest, Recipient

"""Error type of a notice that cannot be delivered to its recipient's address."""
_ADDRESS = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def subject_header(subject: str) -> str:
    """The Subject header's value: `subject` as is when that is safe, else RFC 2047 encoded.

    Plain ASCII goes as it is; non-ASCII text, text that a mail reader would take for an
    encoded word (``=?...?=``) and words too long to fold within a header line are encoded,
    so that the Subject reads back exactly as rendered and no header line grows too long.
    Line breaks never reach the header (the text is collapsed onto one line first).
    """
    subject = " ".join(subject.split())
    if subject.isascii() and "=?" not in subject and all(len(w) <= 60 for w in subject.split()):
        return subject
    return Header(subject, "utf-8", header_name="Subject").encode()


def to_header(recipient_id: str, address: str | None) -> str:
    """The To header's value: the bare address, checked (never a line break or a second one).

    An internationalised domain is written in its ASCII (IDNA) form; a non-ASCII local part
    would need SMTPUTF8, which the relay is not asked for: such an address is refused.

    Raises:
        ValueError: If the address is not one plain address; the message names the
            recipient's id, not the address (personal data).
    """
    if not address:
        return ""
    if not valid_address(address):
        raise ValueError(f"recipient {recipient_id} has no valid email address")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def valid_address(address: str | None) -> bool:
    """Whether `address` is one plain address (no display name, list, quote or control)."""
    return bool(
        address
        and _ADDRESS.match(address)
        and not any(c in address for c in ',;<>"()\\')
        and address.isprintable()
        and address.rpartition("@")[0].isascii()
        and _idna_ok(address.rpartition("@")[2])
    )


def _idna_ok(domain: str) -> bool:
    try:
        domain.encode("idna")
    except UnicodeError:
        return False
    return True


def message_id_for(dedupe_key: str, domain: str = "talentloop") -> str:
    """The Message-ID of the mail sent under `dedupe_key`: the same on every retry."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class MailActivities:
    """Sends notification emails, recording each in the outbox so it goes out once."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: SmtpSender,
        renderer: MailRenderer,
        mail_from: str,
        links: ApprovalLinks | None = None,
    ) -> None:
        """Build the activity over the outbox database, an SMTP sender and a renderer.

        With `links`, approval emails carry signed Approve / Reject links to the console.
        """
        self._links = links
        self._sessions = sessions
        self._sender = sender
        self._renderer = renderer
        self._from = mail_from

    def _claim(self, req: NoticeRequest, address: str) -> tuple[str, bool]:
        """Record the intent to send; returns the Message-ID and whether it was already sent."""
        return self._claim_key(req.dedupe_key, req.template, address)

    def _claim_key(self, key: str, template: str, address: str) -> tuple[str, bool]:
        with writer_lock(self._sessions), self._sessions.begin() as s:
            row = s.get(MailOutboxRow, key)
            if row is not None:
                return row.message_id, row.status == "sent"
            mid = message_id_for(key)
            s.add(
                MailOutboxRow(
                    dedupe_key=key,
                    message_id=mid,
                    recipient=address,
                    template=template,
                    status="sending",
                    created_at=datetime.now(UTC),
                )
            )
            return mid, False

    def _mark_sent(self, key: str) -> None:
        with writer_lock(self._sessions), self._sessions.begin() as s:
            row = s.get(MailOutboxRow, key)
            if row is not None:
                row.status = "sent"
                row.sent_at = datetime.now(UTC)

    def build(self, req: NoticeRequest, message_id: str) -> Message:
        """Render the notice into a MIME message (plain text with an HTML alternative).

        Built with the `email.mime` classes: the same message as `EmailMessage` would give,
        in a fifth of the time (no header-registry parsing of headers we wrote ourselves).
        """
        rendered = self._renderer.render(
            req.template,
            {
                "employee": req.employee,
                "to": req.to,
                "courses": req.courses,
                "pending": req.pending,
                "uncoverable": req.uncoverable,
                "facts": req.facts,
                "links": self._links.for_notice(req) if self._links else None,
            },
            req.to.locale,
        )
        msg = MIMEMultipart("alternative")
        msg["From"] = self._from
        msg["To"] = to_header(req.to.id, req.to.email)
        msg["Subject"] = subject_header(rendered.subject)
        msg["Message-ID"] = message_id
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["X-Talentloop-Key"] = req.dedupe_key
        msg["Content-Language"] = rendered.locale
        msg.attach(MIMEText(rendered.text, "plain", "utf-8"))
        msg.attach(MIMEText(rendered.html, "html", "utf-8"))
        return msg

    async def deliver(
        self, dedupe_key: str, template: str, to: Recipient, context: dict[str, Any]
    ) -> MailResult:
        """Render `template` with `context` in the recipient's locale and send it once.

        The outbox and Message-ID work as for `send_notice` (digests use it). Raises
        `ValueError` when the recipient has no valid address.
        """
        address = to.email
        if not address or not valid_address(address):
            EMAILS.labels(template, "failed").inc()
            raise ValueError(f"recipient {to.id} has no valid email address")
        mid, already = await asyncio.to_thread(self._claim_key, dedupe_key, template, address)
        if already:
            EMAILS.labels(template, "duplicate").inc()
            return MailResult(dedupe_key=dedupe_key, message_id=mid, sent_now=False)
        rendered = self._renderer.render(template, {**context, "to": to}, to.locale)
        msg = MIMEMultipart("alternative")
        msg["From"] = self._from
        msg["To"] = to_header(to.id, address)
        msg["Subject"] = subject_header(rendered.subject)
        msg["Message-ID"] = mid
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["X-Talentloop-Key"] = dedupe_key
        msg["Content-Language"] = rendered.locale
        msg.attach(MIMEText(rendered.text, "plain", "utf-8"))
        msg.attach(MIMEText(rendered.html, "html", "utf-8"))
        try:
            await self._sender.send(msg)
        except Exception:
            EMAILS.labels(template, "failed").inc()
            raise
        await asyncio.to_thread(self._mark_sent, dedupe_key)
        EMAILS.labels(template, "sent").inc()
        return MailResult(dedupe_key=dedupe_key, message_id=mid, sent_now=True)

    @activity.defn(name="mail.send_notice")
    async def send_notice(self, req: NoticeRequest) -> MailResult:
        """Send the notice unless the outbox says it went out already under the same key.

        A missing or invalid address, or one the SMTP server refuses, fails without retries
        (error type ``BadAddress``) so the workflow records it and carries on. Another refusal
        is retried; its error names the SMTP code and the recipient's id, never the server's
        text nor the cause (either may quote the address, which is personal data). A crash between
        the SMTP server's acceptance and the outbox update resends the message with the same
        Message-ID, which receiving systems use to drop duplicates.
        """
        address = req.to.email
        if not address or not valid_address(address):
            EMAILS.labels(req.template, "failed").inc()
            raise permanent(
                f"recipient {req.to.id} has no valid email address", FailureType.BAD_ADDRESS
            )
        mid, already = await asyncio.to_thread(self._claim, req, address)
        if already:
            EMAILS.labels(req.template, "duplicate").inc()
            return MailResult(dedupe_key=req.dedupe_key, message_id=mid, sent_now=False)
        try:
            await self._sender.send(self.build(req, mid))
        except aiosmtplib.SMTPRecipientsRefused as err:
            EMAILS.labels(req.template, "failed").inc()
            codes = ", ".join(str(r.code) for r in err.recipients)
            raise permanent(
                f"the SMTP server refused recipient {req.to.id} (SMTP {codes})",
                FailureType.BAD_ADDRESS,
            ) from None
        except aiosmtplib.SMTPResponseException as err:
            EMAILS.labels(req.template, "failed").inc()  # retried by Temporal
            # The server's words may quote the recipient's address: its code and the id only.
            raise ApplicationError(
                f"the SMTP server refused the notice to {req.to.id} (SMTP {err.code})",
                type=type(err).__name__,
            ) from None
        except Exception:
            EMAILS.labels(req.template, "failed").inc()  # retried by Temporal
            raise
        await asyncio.to_thread(self._mark_sent, req.dedupe_key)
        EMAILS.labels(req.template, "sent").inc()
        return MailResult(dedupe_key=req.dedupe_key, message_id=mid, sent_now=True)
