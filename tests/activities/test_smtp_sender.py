"""SmtpSender keeps connections open between sends and replaces one the server dropped."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from activities.mail.smtp import SmtpSender
from talentloop.smtpsink import SmtpSink, read_maildir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "learning@talentloop.example"
    msg["To"] = "ada@example.com"
    msg["Subject"] = subject
    msg.set_content("body")
    return msg


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "maildir", host="127.0.0.1", port=free_port())
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


async def test_messages_share_a_kept_connection_and_survive_a_server_restart(
    sink: SmtpSink,
) -> None:
    sender = SmtpSender(host=sink.host, port=sink.port, username="u", password="p")
    for n in range(3):
        await sender.send(message(f"kept {n}"))
    assert len(sender._idle) == 1  # one connection carried all three

    sink.stop()  # the server drops the kept connection
    sink.start()
    await sender.send(message("after restart"))
    await sender.close()

    subjects = sorted(m["Subject"] for m in read_maildir(sink.maildir))
    assert subjects == ["after restart", "kept 0", "kept 1", "kept 2"]
