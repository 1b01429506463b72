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

from talentloop.cli import contract, data, dlq, events, lms, mail, plans, services, stack
from talentloop.cli.app import app
from talentloop.errors import TalentloopError, UsageProblem
from talentloop.service.config import Settings

__all__ = ["app", "main"]
COMMAND_GROUPS = (contract, data, dlq, events, lms, mail, plans, services, stack)
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
    """Entry point: bad input and unreachable servers end in one line and a non-zero exit."""
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
