"""Delivering a message over SMTP (the dev sink, or the company relay with STARTTLS and auth)."""

from __future__ import annotations

import asyncio
import contextlib
from email.message import Message

import aiosmtplib


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
    ) -> None:
        """Where and how to connect; nothing connects until the first send."""
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.pool_size = pool_size
        self._idle: list[aiosmtplib.SMTP] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
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
