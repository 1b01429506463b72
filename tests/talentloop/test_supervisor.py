"""The supervisor behind `talentloop worker --processes N`, with real processes.

A supervisor runs in a process of its own (it installs signal handlers) over small Python
processes that record their pid in a directory, then sleep, fail, or ignore SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.polling import wait_until

from talentloop.dev.processes import alive
from talentloop.service.supervisor import RestartPolicy

# argv: child code, count, first delay, give up after, stop timeout. Prints "failed: REASON"
# on stderr and exits 1 when the supervisor raises ProcessesFailed.
SUPERVISOR = """
import sys
from talentloop.service.supervisor import ProcessesFailed, RestartPolicy, Supervisor
code, count, delay, give_up, stop = sys.argv[1:6]
policy = RestartPolicy(first_delay=float(delay), fast_failure=5.0, give_up_after=int(give_up))
supervisor = Supervisor(
    [sys.executable, "-c", code], int(count), name="test process", policy=policy,
    stop_timeout=float(stop), poll_interval=0.02,
)
try:
    sys.exit(supervisor.run())
except ProcessesFailed as err:
    print(f"failed: {err}", file=sys.stderr)
    sys.exit(1)
"""

RECORD_PID = "open(os.path.join(os.environ['PIDS'], str(os.getpid())), 'w').close()"

SLEEPER = f"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
{RECORD_PID}
time.sleep(600)
"""
"""Records its pid, then sleeps until SIGTERM, which ends it with 0."""

STUBBORN = f"""
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
{RECORD_PID}
time.sleep(600)
"""
"""Records its pid, then sleeps and ignores SIGTERM."""

FIRST_SLEEPS_OTHERS_FAIL = f"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
{RECORD_PID}
try:
    os.close(os.open(os.path.join(os.environ['PIDS'], 'first'), os.O_CREAT | os.O_EXCL))
except FileExistsError:
    sys.exit(3)
time.sleep(600)
"""
"""The first one started sleeps until SIGTERM; every later one exits with 3 at once."""


def start_supervisor(
    pids: Path,
    code: str,
    *,
    count: int = 2,
    first_delay: float = 0.05,
    give_up_after: int = 5,
    stop_timeout: float = 5.0,
) -> subprocess.Popen[str]:
    args = [code, str(count), str(first_delay), str(give_up_after), str(stop_timeout)]
    return subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, *args],
        env={**os.environ, "PIDS": str(pids)},
        stderr=subprocess.PIPE,
        text=True,
    )


def recorded(pids: Path) -> set[int]:
    return {int(p.name) for p in pids.iterdir() if p.name.isdigit()}


def wait_recorded(pids: Path, count: int) -> set[int]:
    """The recorded pids once there are `count` of them."""

    def enough() -> set[int] | None:
        found = recorded(pids)
        return found if len(found) >= count else None

    return wait_until(enough, 30, interval=0.05, message=lambda _: f"{recorded(pids)}")


def test_back_off_doubles_per_fast_failure_up_to_its_cap() -> None:
    policy = RestartPolicy(first_delay=0.5, max_delay=3.0)
    assert [policy.delay(n) for n in range(6)] == [0.5, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_killed_process_is_started_again_while_the_others_keep_running(
    tmp_path: Path,
) -> None:
    supervisor = start_supervisor(tmp_path, SLEEPER)
    try:
        first = wait_recorded(tmp_path, 2)
        killed, survivor = sorted(first)
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        now = wait_recorded(tmp_path, 3)
        back_after = time.monotonic() - killed_at
        (restarted,) = now - first
        assert alive(restarted) and alive(survivor) and not alive(killed)
        assert back_after < 5, back_after
        assert supervisor.poll() is None
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, errors = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, errors
    assert f"(pid {killed}) ended after" in errors and "killed by SIGKILL" in errors
    assert not any(alive(pid) for pid in recorded(tmp_path))


def test_repeated_fast_failures_stop_the_others_and_give_up_in_one_line(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    supervisor = start_supervisor(tmp_path, FIRST_SLEEPS_OTHERS_FAIL, give_up_after=4)
    _, errors = supervisor.communicate(timeout=60)
    took = time.monotonic() - started
    assert supervisor.returncode == 1, errors
    last = errors.strip().splitlines()[-1]
    assert last.startswith("failed: test process ") and last.endswith("giving up"), last
    assert "ended 4 times in a row within 5 s of starting" in last and "exit code 3" in last
    # Three restarts after 0.05, 0.1 and 0.2 s of back-off, not at once.
    assert took >= 0.35, took
    assert len(recorded(tmp_path)) == 5  # the sleeper and four failures
    assert not any(alive(pid) for pid in recorded(tmp_path))  # the sleeper was stopped


@pytest.mark.timeout(60)
def test_stop_waits_a_bounded_time_then_kills(tmp_path: Path) -> None:
    supervisor = start_supervisor(tmp_path, STUBBORN, stop_timeout=1.0)
    try:
        wait_recorded(tmp_path, 2)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        _, errors = supervisor.communicate(timeout=30)
    took = time.monotonic() - stopping
    assert 1.0 <= took < 10, took
    assert supervisor.returncode == 1
    assert "did not stop within 1 s of SIGTERM; killed" in errors.strip().splitlines()[-1]
    assert not any(alive(pid) for pid in recorded(tmp_path))
