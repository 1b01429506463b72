"""A start that fails part-way (missing data, a port in use, a bad setting) says what failed in
one line, stops what it started, and exits non-zero: `talentloop demo` and `talentloop dev up`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support.cli import CliResult, talentloop, talentloop_process

from talentloop.dev.teststack import private_settings
from talentloop.service.config import Settings


def run(settings: Settings, *args: str, **env: str) -> CliResult:
    """`talentloop ARGS` in this process, with `settings` and `env` in its environment."""
    return talentloop(*args, env={**settings.to_env(), **env}, cwd=settings.state_dir.parent)


def processes_mentioning(*needles: str) -> list[str]:
    """Command lines of running processes that contain any of `needles`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append(cmdline)
    return found


def last_line(result: CliResult) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.integration
def test_demo_without_onet_data_stops_the_stack_it_started(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "state")
    empty = tmp_path / "no-onet"
    empty.mkdir()
    # A real process: the stack it starts, it must stop again, leaving no process behind.
    result = talentloop_process(
        "demo",
        env={**settings.to_env(), "TALENTLOOP_ONET_DIR": str(empty)},
        cwd=settings.state_dir.parent,
        timeout=180,
    )
    assert result.exit_code == 1
    assert last_line(result).startswith("talentloop: O*NET data incomplete")
    assert "stopped what this command started: temporal, kafka, smtp" in result.stderr
    assert not list((settings.state_dir / "pids").glob("*.pid"))
    assert not processes_mentioning(str(settings.state_dir), f":{settings.kafka_port}")


def test_dev_up_with_a_port_in_use_names_it_and_starts_nothing(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind((settings.host, settings.smtp_port))
        squatter.listen()
        result = run(settings, "dev", "up")
    assert result.exit_code == 1
    assert last_line(result) == (
        f"talentloop: smtp: {settings.host}:{settings.smtp_port} is already in use by a process "
        f"this dev stack did not start (state dir {settings.state_dir.resolve()})"
    )
    assert not processes_mentioning(str(settings.state_dir), f":{settings.kafka_port}")


def test_a_bad_setting_is_named_in_one_line(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "state")
    result = run(settings, "dev", "up", TALENTLOOP_KAFKA_PORT="ninety")
    assert result.exit_code == 2
    assert last_line(result).startswith("talentloop: bad setting TALENTLOOP_KAFKA_PORT: ")
    assert len(result.stderr.strip().splitlines()) == 1
