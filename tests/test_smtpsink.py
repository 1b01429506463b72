"""The SMTP sink stores what it receives, envelope included, in a Maildir."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from support.polling import wait_until

from talentloop.dev.smtpsink import SmtpSink, read_maildir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_message(subject: str, body: str, to: str = "ada@example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "learning@talentloop.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "maildir", host="127.0.0.1", port=free_port())
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


async def test_message_sent_with_aiosmtplib_is_stored_with_its_envelope(sink: SmtpSink) -> None:
    message = make_message(
        "Your learning plan", "Dear Ada,\nyou are enrolled in Négociation 101.\n"
    )

    await aiosmtplib.send(
        message,
        hostname=sink.host,
        port=sink.port,
        sender="bounces@talentloop.example",
        recipients=["ada@example.com", "manager@example.com"],
    )

    stored = read_maildir(sink.maildir)
    assert len(stored) == 1
    got = stored[0]
    assert got["Subject"] == "Your learning plan"
    assert got["To"] == "ada@example.com"
    assert got["X-Envelope-From"] == "bounces@talentloop.example"
    assert got["X-Envelope-To"] == "ada@example.com, manager@example.com"
    body = got.get_body(("plain",))
    assert body is not None
    assert "Négociation 101" in body.get_content()


async def test_messages_come_back_oldest_first(sink: SmtpSink) -> None:
    for number in range(5):
        await aiosmtplib.send(
            make_message(f"message {number}", f"body {number}\n"),
            hostname=sink.host,
            port=sink.port,
        )

    assert [m["Subject"] for m in sink.messages()] == [f"message {n}" for n in range(5)]


def test_login_is_accepted_like_a_relay_would(sink: SmtpSink) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        smtp.login("talentloop", "secret")
        smtp.send_message(make_message("after login", "hello\n"))

    assert [m["Subject"] for m in read_maildir(sink.maildir)] == ["after login"]


async def test_an_existing_empty_directory_becomes_the_maildir(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    with SmtpSink(maildir, port=free_port()) as sink:
        await aiosmtplib.send(make_message("first", "hi\n"), hostname=sink.host, port=sink.port)

    assert [m["Subject"] for m in read_maildir(maildir)] == ["first"]


def test_missing_maildir_reads_as_empty(tmp_path: Path) -> None:
    assert read_maildir(tmp_path / "nothing-here") == []


def test_stop_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    with SmtpSink(tmp_path / "maildir", port=port) as sink:
        assert sink.running
    assert not sink.running
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_module_runs_as_a_process_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "maildir"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "talentloop.dev.smtpsink",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--maildir",
            str(maildir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def connect() -> smtplib.SMTP | None:
        try:
            return smtplib.SMTP("127.0.0.1", port, timeout=5)
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            return None

    try:
        smtp = wait_until(connect, timeout=20, interval=0.1, message="sink process did not answer")
        with smtp:
            smtp.send_message(make_message("from the process", "hi\n"))

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()

    assert [m["Subject"] for m in read_maildir(maildir)] == ["from the process"]
