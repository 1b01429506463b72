"""The dev SMTP sink: an aiosmtpd server that stores every message it receives in a Maildir.

Each stored message keeps its SMTP envelope in two headers prepended to the message,
``X-Envelope-From`` and ``X-Envelope-To`` (recipients comma-separated), so tests and the demo
can see who a message was actually sent to, Bcc included.

Run it as a process (it stops on SIGTERM or SIGINT and exits 0)::

    python -m talentloop.dev.smtpsink --host 127.0.0.1 --port 1025 --maildir .talentloop/maildir

or in-process::

    with SmtpSink(maildir, host="127.0.0.1", port=1025):
        ...

Standing in for a company relay, it can also require STARTTLS (``starttls_context``) or speak
implicit TLS (``ssl_context``), each with a server certificate, and check logins against
``credentials`` instead of accepting any.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import hmac
import logging
import mailbox
import signal
import ssl
import threading
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from talentloop.service.config import Settings

log = logging.getLogger(__name__)

ENVELOPE_FROM_HEADER = "X-Envelope-From"
ENVELOPE_TO_HEADER = "X-Envelope-To"


class MaildirHandler:
    """An aiosmtpd handler that delivers every accepted message into one Maildir.

    Args:
        maildir: The Maildir directory; created (with ``cur``, ``new``, ``tmp``) if missing.

    """

    def __init__(self, maildir: Path) -> None:
        self.maildir = Path(maildir)
        self._box = mailbox.Maildir(self.maildir, create=True)
        self._lock = threading.Lock()
        self._ensure_layout()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        """Store the message with its envelope and accept it.

        Args:
            server: The SMTP server instance.
            session: The SMTP session.
            envelope: The envelope and raw content of the message.

        Returns:
            The SMTP reply sent to the client.

        """
        content = envelope.original_content or b""
        if not content and isinstance(envelope.content, bytes):
            content = envelope.content
        envelope_lines = (
            f"{ENVELOPE_FROM_HEADER}: {envelope.mail_from or ''}\n"
            f"{ENVELOPE_TO_HEADER}: {', '.join(envelope.rcpt_tos)}\n"
        ).encode()
        raw = envelope_lines + content.replace(b"\r\n", b"\n")
        key = await asyncio.to_thread(self._store, raw)
        log.info("stored message %s for %d recipient(s)", key, len(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def _store(self, raw: bytes) -> str:
        with self._lock:
            self._ensure_layout()
            return self._box.add(raw)

    def _ensure_layout(self) -> None:
        # mailbox.Maildir(create=True) skips the subfolders when the directory already exists.
        for sub in ("tmp", "new", "cur"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)


def _accept_any_login(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accept every AUTH attempt: the sink stands in for relays that require a login."""
    return AuthResult(success=True)


def _check_login(credentials: Mapping[str, str]) -> Callable[..., AuthResult]:
    """An authenticator that accepts exactly the given user names and passwords."""

    def check(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        wanted = credentials.get(user)
        given = auth_data.password.decode("utf-8", "replace")
        ok = wanted is not None and hmac.compare_digest(wanted.encode(), given.encode())
        return AuthResult(success=ok, handled=False)

    return check


class SmtpSink:
    """An in-process SMTP sink on a background thread (wraps ``aiosmtpd.controller.Controller``).

    Args:
        maildir: Where messages are stored.
        host: The address to bind.
        port: The port to bind.
        starttls_context: A server TLS context: the sink offers STARTTLS and requires it
            before AUTH and mail.
        ssl_context: A server TLS context for implicit TLS (SMTPS): TLS from the first byte.
        credentials: User name to password; when given, only these logins are accepted
            and a login is required. By default any login is accepted, and none is required.

    """

    def __init__(
        self,
        maildir: Path,
        host: str = "127.0.0.1",
        port: int = 1025,
        *,
        starttls_context: ssl.SSLContext | None = None,
        ssl_context: ssl.SSLContext | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.maildir = Path(maildir)
        self.host = host
        self.port = port
        self.handler = MaildirHandler(self.maildir)
        self.starttls_context = starttls_context
        self.ssl_context = ssl_context
        self.credentials = dict(credentials) if credentials is not None else None
        self._controller: Controller | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSink:
        """Build a sink on the settings' host, SMTP port and Maildir.

        Args:
            settings: The talentloop settings.

        Returns:
            A sink, not yet started.

        """
        return cls(settings.maildir, host=settings.host, port=settings.smtp_port)

    @property
    def running(self) -> bool:
        """Whether the sink is accepting connections."""
        return self._controller is not None

    def start(self) -> None:
        """Start accepting connections; returns once the server answers.

        Raises:
            RuntimeError: If the sink is already running.

        """
        if self._controller is not None:
            raise RuntimeError("SMTP sink already running")
        secured = self.starttls_context is not None
        controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            server_hostname="talentloop-smtpsink",
            ready_timeout=10.0,
            enable_SMTPUTF8=True,
            ssl_context=self.ssl_context,
            tls_context=self.starttls_context,
            require_starttls=secured,
            authenticator=(
                _accept_any_login if self.credentials is None else _check_login(self.credentials)
            ),
            auth_required=self.credentials is not None,
            auth_require_tls=secured,
        )
        controller.start()
        self._controller = controller
        log.info("SMTP sink on %s:%d storing into %s", self.host, self.port, self.maildir)

    def stop(self) -> None:
        """Stop accepting connections (a no-op when not running)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def messages(self) -> list[EmailMessage]:
        """Return every message stored so far, oldest first."""
        return read_maildir(self.maildir)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def read_maildir(path: Path | str) -> list[EmailMessage]:
    """Read every message in a Maildir, oldest first.

    Args:
        path: The Maildir directory. A missing directory holds no messages.

    Returns:
        The messages, parsed with the modern ``email`` policy; the envelope is in the
        ``X-Envelope-From`` and ``X-Envelope-To`` headers.

    """
    path = Path(path)
    if not (path / "new").is_dir() and not (path / "cur").is_dir():
        return []
    box = mailbox.Maildir(path, create=False)
    parser = BytesParser(policy=email.policy.default)
    entries: list[tuple[float, str, bytes]] = []
    for key in box.iterkeys():
        try:
            raw = box.get_bytes(key)
            delivered = box.get_message(key).get_date()
        except (KeyError, FileNotFoundError):
            continue  # removed while we were reading
        entries.append((delivered, key, raw))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    messages: list[EmailMessage] = []
    for _, _, raw in entries:
        message = parser.parsebytes(raw)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def main(argv: list[str] | None = None) -> int:
    """Run the sink until SIGTERM or SIGINT.

    Args:
        argv: Command-line arguments; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code.

    """
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m talentloop.dev.smtpsink",
        description="SMTP sink: store every received message in a Maildir.",
    )
    parser.add_argument("--host", default=settings.host, help="address to bind")
    parser.add_argument("--port", type=int, default=settings.smtp_port, help="port to bind")
    parser.add_argument(
        "--maildir", type=Path, default=settings.maildir, help="Maildir to store messages in"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sink = SmtpSink(args.maildir, host=args.host, port=args.port)
    sink.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sink.stop()
    log.info("SMTP sink stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
