"""A command that talks to Temporal exits cleanly, every time.

Without care, `talentloop plan` aborted in some runs after printing its plan: a Temporal core
thread still on its way out of Python while the interpreter finalized ("Fatal Python error:
PyGILState_Release", SIGABRT, exit 134).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from support.delivery import wait_handled
from support.events import role_review_event
from temporalio.client import Client

from talentloop.service.bridge import Bridge
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events

pytestmark = pytest.mark.integration

RUNS = 15
"""Plain runs of the command; the abort used to hit between one run in thirty and one in
three, depending on how busy the machine was."""

DELAYED_RUNS = 5
"""Runs in which the Temporal core thread that delivers each result is held up inside Python
until the command is over: a thread the OS left waiting on a busy machine. Without the fix,
every such run aborted."""

# Imports the command line once, then runs `talentloop ARGS` in fresh processes forked from
# it, one after the other, each with its stdout and stderr in files of its own: the command's
# `main()` called by the program's `__main__`, as the `talentloop` script calls it; the
# Temporal runtime is created in each child (no thread exists before the fork). The last
# DELAYED ones hold up the core thread as it delivers a result (it wakes the event loop,
# then waits until the exit handlers run, then a little more). Prints each child's exit
# status (negative: the signal that ended it).
FORKING_RUNNER = """
import asyncio.selector_events, atexit, os, sys, threading, time
from talentloop.cli import main
runs, delayed, out, args = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]

def hold_up_result_delivery():
    exiting = threading.Event()
    atexit.register(exiting.set)
    loop = asyncio.selector_events.BaseSelectorEventLoop
    wake = loop._write_to_self
    def held_up(self):
        wake(self)
        if threading.current_thread() is not threading.main_thread():
            exiting.wait(5)
            time.sleep(0.05)
    loop._write_to_self = held_up

for n in range(runs + delayed):
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        for fd, name in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{out}/{n}.{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        if n >= runs:
            hold_up_result_delivery()
        sys.argv = ["talentloop", *args]
        main()
        os._exit(99)  # main() returned instead of ending the process
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


async def test_plan_exits_cleanly_every_time(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Client,
    bridge: Bridge,
    tmp_path: Path,
) -> None:
    employee = "E00029"
    event = role_review_event(sessions, employee, "ev-cli-exit-1")
    await asyncio.to_thread(publish_events, settings, [event])
    state = await wait_handled(client, employee, "ev-cli-exit-1")
    courses = [item.course_id for item in state.items]
    assert courses

    runner = [sys.executable, "-c", FORKING_RUNNER, str(RUNS), str(DELAYED_RUNS), str(tmp_path)]
    done = await asyncio.to_thread(
        subprocess.run,
        [*runner, "plan", employee],
        env=settings.to_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    total = RUNS + DELAYED_RUNS
    codes = [int(line) for line in done.stdout.split()]
    assert len(codes) == total, done.stdout
    errors = {n: (tmp_path / f"{n}.err").read_text() for n in range(total)}
    aborted = {n: err for n, err in errors.items() if "PyGILState" in err}
    assert not aborted, f"runs {sorted(aborted)} aborted: {next(iter(aborted.values()))}"
    assert codes == [0] * total, (codes, errors)
    for n in range(total):
        printed = (tmp_path / f"{n}.out").read_text()
        assert all(course in printed for course in courses), printed
        assert errors[n] == ""
