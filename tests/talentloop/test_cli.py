"""Bad CLI input ends in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.cli import talentloop, talentloop_process
from support.events import review_event


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
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    """A real process: what kafka-python logs or prints on the way out lands in its stderr."""
    path = tmp_path / "one.json"
    path.write_text(json.dumps(review_event("E00001", "1")))  # valid: publish gets to sending
    env = {
        **os.environ,
        "TALENTLOOP_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "TALENTLOOP_KAFKA_CONNECT_TIMEOUT_MS": "2000",
    }
    result = talentloop_process("publish", str(path), env=env, timeout=60)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "Kafka" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = talentloop("no-such-command")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
