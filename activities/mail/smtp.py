"""Delivering a message over SMTP (the dev sink, or the company relay with TLS and auth).

The relay is reached in plain text (the dev sink), with STARTTLS (usually port 587) or with
implicit TLS from the first byte (SMTPS, usually port 465); its certificate is always checked,
against the system's roots or a private CA (`tls_context`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from email.message import Message
from pathlib import Path

import aiosmtplib


def tls_context(ca_path: Path | None = None) -> ssl.SSLContext:
    """A client TLS context that checks the server's certificate and host name.

    Args:
        ca_path: A PEM CA bundle to trust instead of the system's roots (a private CA).

    """
    return ssl.create_default_context(cafile=str(ca_path) if ca_path is not None else None)


class SmtpSender:
    """Hands messages to an SMTP server over a few connections kept open between sends.

    A message goes out on an idle connection when there is one, else on a new one; after the
    send the connection is kept for the next message (up to `pool_size` of them). A kept
    connection that the server closed meanwhile is replaced once, transparently. A failed send
    closes its connection, so an error never leaves a connection in an unknown state behind.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 30.0,
        pool_size: int = 4,
        *,
        use_tls: bool = False,
        ca_path: Path | None = None,
    ) -> None:
        """Where and how to connect; nothing connects until the first send.

        Args:
            host: The relay.
            port: Its port.
            username: The AUTH user, if the relay wants a login.
            password: The AUTH password.
            starttls: Upgrade the connection with STARTTLS (and refuse a relay without it).
            timeout: Seconds any one SMTP step may take.
            pool_size: Connections kept open between sends.
            use_tls: Implicit TLS (SMTPS) instead: TLS from the first byte.
            ca_path: A PEM CA bundle the relay's certificate is checked against, instead of
                the system's roots.

        Raises:
            ValueError: If both `starttls` and `use_tls` are asked for.

        """
        if starttls and use_tls:
            raise ValueError("STARTTLS and implicit TLS exclude each other")
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_tls = use_tls
        self._tls_context = tls_context(ca_path) if (starttls or use_tls) else None
        self.timeout = timeout
        self.pool_size = pool_size
        self._idle: list[aiosmtplib.SMTP] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password,
            start_tls=self.starttls,
            use_tls=self.use_tls,
            tls_context=self._tls_context,
            timeout=self.timeout,
        )
        await client.connect()
        return client

    def _take(self) -> aiosmtplib.SMTP | None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that opened them
            self._idle, self._loop = [], loop
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return None

    async def send(self, message: Message) -> None:
        """Send `message`; raises on any refusal so the activity retries."""
        client = self._take()
        try:
            if client is None:
                client = await self._connect()
                await client.send_message(message)
            else:
                try:
                    await client.send_message(message)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    # The server closed the kept connection while it was idle.
                    client.close()
                    client = await self._connect()
                    await client.send_message(message)
        except BaseException:
            if client is not None:
                client.close()
            raise
        if len(self._idle) < self.pool_size:
            self._idle.append(client)
        else:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()

    async def close(self) -> None:
        """Say goodbye on the kept connections (on the loop that opened them)."""
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, RuntimeError):
                await client.quit()
