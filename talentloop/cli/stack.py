"""`talentloop dev up|down|status`, `setup`, `doctor` and `demo`: the stack, ready or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from talentloop.cli.app import app, configure_logging, load_settings
from talentloop.dev.devstack import ComponentStatus, DevStack, render_status
from talentloop.service.config import Settings

dev = typer.Typer(help="The embedded dev stack: Temporal, a Kafka broker, an SMTP sink.")
app.add_typer(dev, name="dev")


@contextmanager
def _stack_started(settings: Settings) -> Iterator[list[ComponentStatus]]:
    """Start the dev stack; if what follows fails, stop what this start started, and re-raise."""
    stack = DevStack(settings)
    statuses = stack.up()
    try:
        yield statuses
    except BaseException:
        started = [s.name for s in statuses if s.started]
        if started:
            stack.down(only=started)
            typer.echo(f"stopped what this command started: {', '.join(started)}", err=True)
        raise


def _services_left_running(settings: Settings) -> str:
    """Start worker, bridge and console in the background, until `make down`.

    Also makes a demo sign-in for the console (a GENERATED password, printed once).
    """
    import secrets

    from activities.store.engine import open_engine, session_factory
    from talentloop.console.auth import add_user
    from talentloop.dev.devstack import SERVICES

    password = secrets.token_urlsafe(12)
    add_user(
        session_factory(open_engine(settings.db_url)),
        "hr-demo",
        password,
        "hr_admin",
        actor="demo",
    )
    statuses = DevStack(settings).up(only=SERVICES)
    console = next(s for s in statuses if s.name == "console")
    return "\n".join(
        [
            "  Left running until `make down`: worker, bridge, console",
            f"  Console       {console.url}  (sign in as hr-demo / {password})",
        ]
    )


def _setup(settings: Settings) -> None:
    """Run `talentloop setup` and print one line per step."""
    from talentloop.service.provision import run_setup

    for step in asyncio.run(run_setup(settings)):
        typer.echo(f"setup {step.component:<9} {step.detail}")


@dev.command("up")
def dev_up() -> None:
    """Start the stack (what already runs is left alone), set it up, print the addresses."""
    settings = load_settings()
    with _stack_started(settings) as statuses:
        typer.echo(render_status(statuses, settings))
        _setup(settings)


@app.command()
def setup() -> None:
    """Set up the configured deployment, idempotently (once per release, e.g. an init job).

    Migrates the database, creates the Kafka topics with the configured partitions, registers
    the namespace's search attributes, and creates or updates every Temporal Schedule.
    """
    _setup(load_settings())


@app.command()
def doctor() -> None:
    """Check every component of the configured deployment; exit 0 only if all are ready."""
    from talentloop.service.doctor import render_checks, run_doctor

    checks = asyncio.run(run_doctor(load_settings()))
    typer.echo(render_checks(checks))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@dev.command("down")
def dev_down() -> None:
    """Stop exactly what `dev up` started."""
    settings = load_settings()
    typer.echo(render_status(DevStack(settings).down(), settings))


@dev.command("status")
def dev_status() -> None:
    """Show each component, whether it runs, and its address."""
    settings = load_settings()
    typer.echo(render_status(DevStack(settings).status(), settings))


@app.command()
def demo(
    reviews: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the outcome.")] = 120.0,
) -> None:
    """Start the stack, seed, publish a burst of reviews, wait for the outcome, summarise."""
    from talentloop.dev.demo import run_demo

    configure_logging(False)
    settings = load_settings()
    with _stack_started(settings) as statuses:
        typer.echo(render_status(statuses, settings))
        _setup(settings)
        summary = asyncio.run(run_demo(settings, reviews=reviews, timeout=timeout))
    typer.echo(summary.render(settings))
    typer.echo(_services_left_running(settings))
