"""The `talentloop` command line: one module per command group, thin over the service.

`main` is the entry point: bad input and unreachable servers end in one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from kafka.errors import KafkaError
from pydantic import ValidationError
from temporalio.service import RPCError

from talentloop.cli import codec as _codec  # noqa: F401  (registers `talentloop codec-server`)
from talentloop.cli import (
    console,
    contract,
    data,
    dlq,
    events,
    exiting,
    lms,
    mail,
    plans,
    rollout,
    services,
    stack,
)
from talentloop.cli import employee as _employee  # noqa: F401  (registers `talentloop employee`)
from talentloop.cli import goals as _goals  # noqa: F401  (registers `talentloop goals`)
from talentloop.cli.app import app
from talentloop.errors import TalentloopError, UsageProblem
from talentloop.service.config import Settings

__all__ = ["app", "main"]
COMMAND_GROUPS = (console, contract, data, dlq, events, lms, mail, plans, rollout, services, stack)
"""The command modules: importing them registers their commands on `app`."""


def _setting_problem(err: ValidationError) -> str:
    """One line naming the first bad setting (its environment variable) or field."""
    first = err.errors()[0] if err.errors() else None
    if first is None:
        return str(err).splitlines()[0]
    where = ".".join(str(part) for part in first["loc"])
    if err.title == Settings.__name__ and where:
        where = f"TALENTLOOP_{where.split('.')[0].upper()}"
    return f"bad setting {where}: {first['msg']}" if where else first["msg"]


def main() -> None:
    """Entry point: bad input and unreachable servers end in one line and a non-zero exit.

    Called by the program itself (the `talentloop` script, `python -m talentloop.cli`), a
    command that talked to Temporal ends the process without finalizing the interpreter
    (`talentloop.cli.exiting`), so it never aborts after printing. Called from other code
    (a test running a command inside the test's own process), it raises SystemExit as usual.
    """
    if sys._getframe(1).f_globals.get("__name__") != "__main__":
        _run()
        return
    try:
        _run()
    except BaseException as err:
        if exiting.temporal_runtime_started():
            exiting.end_after_exception(err)
        raise
    if exiting.temporal_runtime_started():
        exiting.end_process(0)


def _run() -> None:
    """Run the command line; bad input and unreachable servers end in one line."""
    from activities.skills.onet import OnetDataMissing

    try:
        app()
    except UsageProblem as err:
        typer.echo(f"talentloop: {err}", err=True)
        sys.exit(2)
    except ValidationError as err:
        typer.echo(f"talentloop: {_setting_problem(err)}", err=True)
        sys.exit(2)
    except (TalentloopError, OnetDataMissing) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        typer.echo(f"talentloop: {first}", err=True)
        sys.exit(1)
    except (KafkaError, RPCError, ConnectionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        typer.echo(f"talentloop: {type(err).__name__}: {first}", err=True)
        sys.exit(1)
    except RuntimeError as err:
        # The Temporal SDK raises a bare RuntimeError("Failed client connect: ...") when the
        # server cannot be reached; anything else of the kind is a bug and keeps its traceback.
        if "Failed client connect" not in str(err):
            raise
        first = str(err).strip().splitlines()[0]
        typer.echo(f"talentloop: Temporal unreachable: {first}", err=True)
        sys.exit(1)
