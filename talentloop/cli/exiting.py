"""How a `talentloop` process ends once a command has talked to Temporal.

The Temporal client's core runs on Rust threads that call back into Python to deliver each
result. When a command finishes right after its last result, such a thread can still be on
its way out of Python while the interpreter finalizes; it then aborts the process with
"Fatal Python error: PyGILState_Release" (SIGABRT, exit 134) after everything was printed
(temporalio/sdk-python#300: the SDK has no way to stop its runtime). A process that created
the Temporal runtime therefore ends without finalizing: the exit handlers run (logging and
Kafka producers flush), stdout and stderr are flushed, then `os._exit` with the command's
exit code. The runtime stays alive until that moment.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import traceback
from typing import NoReturn


def temporal_runtime_started() -> bool:
    """True once this process created the Temporal SDK's runtime (its Rust threads).

    Every client and worker of ours uses the SDK's default runtime, created by the first
    `Client.connect`; reading its slot does not create it. Should the SDK store it elsewhere
    one day, the answer is True, so a process never risks the abort.
    """
    runtime = sys.modules.get("temporalio.runtime")
    if runtime is None:
        return False
    ref = getattr(runtime, "_runtime_ref", None)
    return getattr(ref, "_default_runtime", True) is not None


def exit_code(code: object) -> int:
    """The status `sys.exit(code)` ends a process with: None is 0, other non-integers 1.

    A non-integer, non-None code is printed on stderr first, as the interpreter does.
    """
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def end_process(code: int) -> NoReturn:
    """End this process now with `code`, without finalizing the interpreter.

    Exit handlers run first (`atexit`: logging's flush, a Kafka producer's close), then
    stdout and stderr are flushed (a reader that went away is ignored), then `os._exit`.
    """
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def end_after_exception(err: BaseException) -> NoReturn:
    """End the process as the interpreter would after an uncaught `err`, without finalizing.

    SystemExit ends with its code; Ctrl-C with 130; anything else prints its traceback and
    ends with 1.
    """
    if isinstance(err, SystemExit):
        end_process(exit_code(err.code))
    if isinstance(err, KeyboardInterrupt):
        end_process(130)
    traceback.print_exception(err)
    end_process(1)
