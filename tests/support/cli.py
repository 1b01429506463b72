"""Running the ``talentloop`` command line from a test: in this process, or as a real process.

In this process (``talentloop``, ``talentloop_lms``) a command runs as ``python -m MODULE ARGS``
would run it, without starting an interpreter: the module's ``main()`` (which turns errors into
one line on stderr and an exit code) with that ``sys.argv``, ``__main__``, environment and
working directory; stdout and stderr are captured by typer's ``CliRunner`` isolation; an
exception ``main()`` lets through ends as the interpreter would end it: a traceback on stderr,
exit code 1.

As a real process (``talentloop_process``, ``start_talentloop``): only for a test about the
process itself: signals, a stack it starts and must stop, what reaches a real stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from typer.testing import CliRunner

CLI = "talentloop.cli"
"""The module behind the ``talentloop`` command."""
"""``talentloop lms`` as a command of its own."""


@dataclass(frozen=True)
class CliResult:
    """How a command ended: its exit code and what it wrote."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None
    """In this process: the exception ``main()`` let through (its traceback is in `stderr`)."""


def talentloop(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | str | None = None
) -> CliResult:
    """``talentloop ARGS`` in this process. `env` is the whole environment, as for a process
    (None: this one); `cwd` the working directory."""
    return run_module(CLI, args, env=env, cwd=cwd)


def talentloop_lms(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | str | None = None
) -> CliResult:
    """``talentloop lms ARGS`` in this process (see `talentloop`)."""
    return run_module(CLI, ("lms", *args), env=env, cwd=cwd)


def run_module(
    module: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
) -> CliResult:
    """``python -m MODULE ARGS`` in this process: ``MODULE.main()``, its exit and output."""
    entry = importlib.import_module(module)
    if _event_loop_running():
        # A process starts without an event loop, and commands call asyncio.run, which refuses
        # to run inside one: in an async test, the command runs on a thread of its own while
        # the test waits for it, as it would wait for a process.
        with ThreadPoolExecutor(1, thread_name_prefix="talentloop-cli") as pool:
            return pool.submit(_run, entry, args, env, cwd).result()
    return _run(entry, args, env, cwd)


def talentloop_process(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120.0,
) -> CliResult:
    """``python -m talentloop.cli ARGS`` as a real process, run to its end."""
    done = subprocess.run(
        [sys.executable, "-m", CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def start_talentloop(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """``python -m talentloop.cli ARGS`` started as a real process (to signal, to kill)."""
    return subprocess.Popen(
        [sys.executable, "-m", CLI, *args], env=env, stdout=stdout, stderr=stderr
    )


def _event_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run(
    entry: ModuleType,
    args: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: Path | str | None,
) -> CliResult:
    # The whole environment replaced, as for a process: what `env` lacks is removed meanwhile.
    overrides = None if env is None else {**dict.fromkeys(os.environ), **env}
    exception: BaseException | None = None
    with (
        CliRunner().isolation(env=overrides) as (stdout, stderr, _),
        contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext(),
        _as_main(entry, args),
    ):
        try:
            entry.main()
            code = 0
        except SystemExit as end:
            code = _exit_code(end.code)
        except Exception as err:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code, exception = 1, err
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        out, errors = stdout.getvalue(), stderr.getvalue()
    return CliResult(code, out.decode(), errors.decode(), exception)


@contextlib.contextmanager
def _as_main(entry: ModuleType, args: Sequence[str]) -> Iterator[None]:
    """``sys.argv`` and ``__main__`` as ``python -m`` sets them (click names the program after
    them in usage lines: ``python -m talentloop.cli``); ``sys.excepthook`` kept (typer sets its
    own)."""
    main = ModuleType("__main__")
    main.__package__ = entry.__package__
    main.__file__ = entry.__file__
    saved = sys.argv, sys.modules["__main__"], sys.excepthook
    sys.argv = [str(entry.__file__), *args]
    sys.modules["__main__"] = main
    try:
        yield
    finally:
        sys.argv, sys.modules["__main__"], sys.excepthook = saved


def _exit_code(code: object) -> int:
    """The exit status of ``sys.exit(code)``: None is 0; anything else not a number is printed
    to stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
