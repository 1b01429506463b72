"""Delivering a message over SMTP (the dev sink, or the company relay with STARTTLS and auth)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib


@dataclass(frozen=True)
class SmtpSender:
    """Where and how to hand messages to an SMTP server."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    async def send(self, message: EmailMessage) -> None:
        """Send `message`; raises on any refusal so the activity retries."""
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout,
        )
