"""Processes of the dev stack, and the loopback checks around them.

A process is recognised by pid, command line and start time, signalled as a group, and reaped
once it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

# Processes this Python process started, kept so they are reaped (no zombies) once they exit.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_CHILDREN_LOCK = threading.Lock()


def track_child(process: subprocess.Popen[bytes]) -> None:
    """Remember a process this one started, so that `alive` and `reap_child` can reap it."""
    with _CHILDREN_LOCK:
        _CHILDREN[process.pid] = process


def reap_child(pid: int) -> None:
    """Wait briefly for a stopped child of ours, so that it leaves no zombie."""
    with _CHILDREN_LOCK:
        child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)


def run_async(coro: Coroutine[Any, Any, list[str]], timeout: float) -> list[str]:
    """Run a coroutine to completion on a private loop in a thread (callers may be async)."""
    result: list[list[str]] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(asyncio.wait_for(coro, timeout)))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="devstack-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if error:
        raise error[0]
    if not result:
        raise TimeoutError(f"no answer within {timeout:.0f}s")
    return result[0]


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state (field 3) on, or None if there is no such pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (None: no such process)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def cmdline(pid: int) -> list[str] | None:
    """The process's command line (None: no such process)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [arg.decode(errors="surrogateescape") for arg in raw.split(b"\0")[:-1]]


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not; our own exited children are reaped here)."""
    with _CHILDREN_LOCK:
        child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the process group pid leads (we start each process in its own session)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass
