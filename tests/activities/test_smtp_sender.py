"""SmtpSender keeps connections open between sends and replaces one the server dropped."""

from __future__ import annotations

from test_smtpsink import make_message
from test_smtpsink import sink as sink  # the fixture

from activities.mail.smtp import SmtpSender
from talentloop.dev.smtpsink import SmtpSink, read_maildir


async def test_messages_share_a_kept_connection_and_survive_a_server_restart(
    sink: SmtpSink,
) -> None:
    sender = SmtpSender(host=sink.host, port=sink.port, username="u", password="p")
    for n in range(3):
        await sender.send(make_message(f"kept {n}", "body"))
    assert len(sender._idle) == 1  # one connection carried all three

    sink.stop()  # the server drops the kept connection
    sink.start()
    await sender.send(make_message("after restart", "body"))
    await sender.close()

    subjects = sorted(m["Subject"] for m in read_maildir(sink.maildir))
    assert subjects == ["after restart", "kept 0", "kept 1", "kept 2"]
