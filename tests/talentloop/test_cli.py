"""Bad CLI input ends in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def talentloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "talentloop.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("garbage{", "not JSON"),
        ('[{"id": "x"}]', "with a 'type'"),
    ],
)
def test_publish_refuses_bad_files_in_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "events.json"
    if content is not None:
        path.write_text(content)
    result = talentloop("publish", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{"type": "review.completed.v1", "id": "1", "data": {"employee_id": "E1"}}')
    env = {
        **os.environ,
        "TALENTLOOP_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "TALENTLOOP_KAFKA_CONNECT_TIMEOUT_MS": "2000",
    }
    result = talentloop("publish", str(path), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Kafka" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = talentloop("no-such-command")
    assert result.returncode == 2 and "Traceback" not in result.stderr
