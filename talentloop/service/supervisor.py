"""Keeping N copies of a process running: restarts with back-off, and a bounded stop.

`talentloop worker --processes N` runs N worker processes under a `Supervisor`. A process
that ends while the supervisor is not stopping is started again after a back-off; one that
keeps failing soon after it starts (a bad setting, a server it cannot reach) makes the
supervisor give up: it stops the others and raises `ProcessesFailed`, one line for the CLI
and a non-zero exit. SIGTERM or Ctrl-C stops every process: the signal is passed on, each
process gets `stop_timeout` seconds to finish, then it is killed.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from talentloop.errors import TalentloopError

log = logging.getLogger("talentloop.service.supervisor")

STOP_TIMEOUT = 20.0
"""Seconds each process gets to stop after the stop signal before it is killed (default)."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that stop the supervisor and, passed on, its processes."""


class ProcessesFailed(TalentloopError):
    """The supervisor gave up on a process, or a process did not stop in time."""


@dataclass(frozen=True)
class RestartPolicy:
    """When a process that ended is started again, and when the supervisor gives up.

    A process that ends within `fast_failure` seconds of its start failed fast. The n-th fast
    failure in a row of one process waits `first_delay * 2 ** (n - 1)` seconds (at most
    `max_delay`) before the restart; the `give_up_after`-th makes the supervisor give up. A
    process that ran longer is started again after `first_delay`, and its count starts over.
    """

    first_delay: float = 0.5
    max_delay: float = 30.0
    fast_failure: float = 30.0
    give_up_after: int = 5

    def delay(self, fast_failures: int) -> float:
        """Seconds before restarting a process after `fast_failures` fast failures in a row."""
        return min(self.max_delay, self.first_delay * 2.0 ** max(0, fast_failures - 1))


def describe_exit(code: int) -> str:
    """How a process ended, in words: its exit code, or the signal that ended it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class _Slot:
    """One of the N processes: the current one, its start, and its recent failures."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    fast_failures: int = 0
    restart_at: float | None = None


class Supervisor:
    """Runs `count` copies of `argv`, each restarted when it ends, until a stop signal.

    Args:
        argv: The command of each process.
        count: How many run at once.
        name: What a process is called in log lines and errors ("worker process").
        policy: Restart back-off, and when to give up.
        stop_timeout: Seconds each process gets to stop after the stop signal before SIGKILL.
        poll_interval: Seconds between checks of the processes.
        spawn: Starts one process from `argv` (default: `subprocess.Popen`, inheriting this
            process's environment, stdout and stderr).

    """

    def __init__(
        self,
        argv: Sequence[str],
        count: int,
        *,
        name: str = "process",
        policy: RestartPolicy | None = None,
        stop_timeout: float = STOP_TIMEOUT,
        poll_interval: float = 0.1,
        spawn: Callable[[Sequence[str]], subprocess.Popen[bytes]] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.argv = list(argv)
        self.name = name
        self.policy = policy or RestartPolicy()
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self._spawn = spawn or (lambda args: subprocess.Popen(list(args)))
        self._slots = [_Slot(number) for number in range(1, count + 1)]
        self._stop_signal: signal.Signals | None = None

    def run(self) -> int:
        """Run until SIGTERM or Ctrl-C, then stop every process; 0 once all stopped in time.

        Raises:
            ProcessesFailed: A process failed fast `policy.give_up_after` times in a row (the
                others are stopped first), or a process had to be killed because it did not
                stop within `stop_timeout` seconds.

        """
        previous = {sig: signal.signal(sig, self._on_stop_signal) for sig in STOP_SIGNALS}
        failure: str | None = None
        try:
            for slot in self._slots:
                self._start(slot)
            failure = self._supervise()
        finally:
            # Also when starting or watching failed: no process is left behind.
            unclean = self._stop_all(self._stop_signal or signal.SIGTERM)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failure is not None:
            raise ProcessesFailed(failure)
        if unclean:
            raise ProcessesFailed("; ".join(unclean))
        return 0

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_signal = signal.Signals(signum)

    def _start(self, slot: _Slot) -> None:
        slot.process = self._spawn(self.argv)
        slot.started = time.monotonic()
        slot.restart_at = None
        log.debug("%s %d started (pid %d)", self.name, slot.number, slot.process.pid)

    def _supervise(self) -> str | None:
        """Watch the processes until a stop signal; the reason to give up, if one arose."""
        while self._stop_signal is None:
            now = time.monotonic()
            for slot in self._slots:
                if slot.process is not None:
                    code = slot.process.poll()
                    if code is None:
                        continue
                    failure = self._ended(slot, code, now)
                    if failure is not None:
                        return failure
                elif slot.restart_at is not None and now >= slot.restart_at:
                    self._start(slot)
            time.sleep(self.poll_interval)
        return None

    def _ended(self, slot: _Slot, code: int, now: float) -> str | None:
        """Schedule the restart of a process that ended; the reason to give up instead."""
        assert slot.process is not None
        pid, ran = slot.process.pid, now - slot.started
        slot.process = None
        if self._stop_signal is not None:
            return None
        slot.fast_failures = slot.fast_failures + 1 if ran < self.policy.fast_failure else 0
        how = describe_exit(code)
        if slot.fast_failures >= self.policy.give_up_after:
            return (
                f"{self.name} {slot.number} ended {slot.fast_failures} times in a row within "
                f"{self.policy.fast_failure:g} s of starting (last: pid {pid}, {how}); "
                "giving up"
            )
        delay = self.policy.delay(slot.fast_failures)
        slot.restart_at = now + delay
        log.warning(
            "%s %d (pid %d) ended after %.1f s (%s); restarting in %.1f s",
            self.name,
            slot.number,
            pid,
            ran,
            how,
            delay,
        )
        return None

    def _stop_all(self, signum: signal.Signals) -> list[str]:
        """Signal every process, wait at most `stop_timeout`, kill the rest; what went wrong."""
        running = [s for s in self._slots if s.process is not None and s.process.poll() is None]
        for slot in running:
            assert slot.process is not None
            slot.process.send_signal(signum)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and any(
            s.process is not None and s.process.poll() is None for s in running
        ):
            time.sleep(self.poll_interval)
        problems: list[str] = []
        for slot in running:
            assert slot.process is not None
            if slot.process.poll() is None:
                slot.process.kill()
                slot.process.wait()
                problems.append(
                    f"{self.name} {slot.number} (pid {slot.process.pid}) did not stop within "
                    f"{self.stop_timeout:g} s of {signum.name}; killed"
                )
                continue
            code = slot.process.returncode
            if code not in (0, -signum):
                log.warning(
                    "%s %d (pid %d) stopped with %s",
                    self.name,
                    slot.number,
                    slot.process.pid,
                    describe_exit(code),
                )
        return problems
