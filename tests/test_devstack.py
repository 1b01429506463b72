"""The embedded dev stack starts real servers, reports them, and stops only what it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from support.polling import wait_until
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from talentloop.dev.devstack import COMPONENTS, DevStack, DevStackError, render_status
from talentloop.dev.smtpsink import read_maildir
from talentloop.dev.teststack import private_settings
from workflows import search_attributes


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(private_settings(tmp_path / "state"), startup_timeout=90)
    seen: dict[int, list[str]] = {}
    try:
        yield stack
    finally:
        seen.update({pid: _cmdline(pid) for pid in stack.pids().values()})
        with contextlib.suppress(Exception):
            stack.down()
        for pid, cmdline in seen.items():  # never leave a process behind, even if down failed
            if pid_alive(pid) and _cmdline(pid) == cmdline:
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


@pytest.mark.integration
async def test_up_status_up_again_down(stack: DevStack) -> None:
    settings = stack.settings

    started = stack.up()

    assert [s.name for s in started] == list(COMPONENTS)
    assert all(s.running and s.started and s.pid for s in started)
    pids = {s.name: s.pid for s in started}
    assert {s.name: s.address for s in started} == {
        "temporal": f"127.0.0.1:{settings.temporal_port}",
        "kafka": f"127.0.0.1:{settings.kafka_port}",
        "smtp": f"127.0.0.1:{settings.smtp_port}",
    }
    for name in COMPONENTS:
        assert (settings.state_dir / "pids" / f"{name}.pid").read_text().strip() == str(pids[name])
        assert (settings.state_dir / "logs" / f"{name}.log").is_file()

    # Temporal answers, with our search attributes registered, and serves its UI.
    client = await Client.connect(settings.temporal_target)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for key in search_attributes.ALL:
        assert listed.custom_attributes[key.name] == key.indexed_value_type.value
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(settings.temporal_ui_url, timeout=10) as response:
        assert response.status == 200

    # Kafka has every configured topic, with the configured partition count.
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        wanted = [*settings.inbound_topics, settings.topic_outbound, settings.topic_dlq]
        described = {t["name"]: t for t in admin.describe_topics(wanted)}
        assert set(described) == set(wanted)
        assert all(len(t["partitions"]) == settings.topic_partitions for t in described.values())
    finally:
        admin.close()

    # The SMTP sink stores into the Maildir of the settings.
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = "ada@example.com"
    message["Subject"] = "through the dev stack"
    message.set_content("hello\n")
    with smtplib.SMTP(settings.host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    assert [m["Subject"] for m in read_maildir(settings.maildir)] == ["through the dev stack"]

    status = stack.status()
    assert all(s.running for s in status)
    assert {s.name: s.pid for s in status} == pids
    text = render_status(status, settings)
    for s in status:
        assert s.name in text and s.address in text
    assert settings.temporal_ui_url in text
    assert str(settings.maildir.resolve()) in text

    again = stack.up()
    assert all(s.running and not s.started for s in again)
    assert all(s.detail.startswith("already running") for s in again)
    assert {s.name: s.pid for s in again} == pids

    # A component that died is reported as stopped, and the next up restarts only it.
    smtp_pid = pids["smtp"]
    assert smtp_pid is not None
    os.kill(smtp_pid, signal.SIGKILL)
    wait_until(
        lambda: not pid_alive(smtp_pid), timeout=10, interval=0.05, message="smtp survived SIGKILL"
    )
    after_kill = {s.name: s for s in stack.status()}
    assert not after_kill["smtp"].running
    assert after_kill["temporal"].running and after_kill["kafka"].running
    revived = {s.name: s for s in stack.up()}
    assert revived["smtp"].started and revived["smtp"].pid != pids["smtp"]
    assert not revived["temporal"].started and not revived["kafka"].started
    pids["smtp"] = revived["smtp"].pid

    stopped = stack.down()

    assert all(not s.running and s.started for s in stopped)
    assert not any(pid_alive(pid) for pid in pids.values() if pid)
    assert not list((settings.state_dir / "pids").iterdir())
    assert not any(s.running for s in stack.status())
    assert "stopped" in render_status(stack.status())
    assert not any(s.started for s in stack.down())  # nothing left to stop


def test_down_never_kills_a_process_it_did_not_start(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "state")
    stack = DevStack(settings)
    pids_dir = settings.state_dir / "pids"
    pids_dir.mkdir(parents=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A pid file whose pid now belongs to another program (a reused pid).
        (pids_dir / "smtp.pid").write_text(f"{stranger.pid}\n")
        (pids_dir / "smtp.json").write_text(
            json.dumps({"pid": stranger.pid, "argv": ["tansu", "broker"], "start_ticks": None})
        )
        # A pid file without its record.
        (pids_dir / "kafka.pid").write_text(f"{os.getpid()}\n")

        assert not any(s.running for s in stack.status())
        stack.down()

        assert stranger.poll() is None
        assert not list(pids_dir.iterdir())
    finally:
        stranger.kill()
        stranger.wait()


def test_up_refuses_a_port_taken_by_someone_else(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind((settings.host, settings.smtp_port))
        squatter.listen()

        with pytest.raises(
            DevStackError, match=rf"smtp: .*:{settings.smtp_port} is already in use"
        ):
            DevStack(settings).up()

    # Nothing was started.
    assert not list((settings.state_dir / "pids").iterdir())
