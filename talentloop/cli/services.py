"""`talentloop worker` and `talentloop bridge`: the service processes."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from talentloop.cli.app import app, configure_logging, load_settings, run_until_signal


@app.command()
def worker(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes (a Python worker uses about one core; one per core).",
        ),
    ] = 1,
) -> None:
    """Run a Temporal worker (workflows and activities) until SIGTERM or Ctrl-C."""
    from talentloop.service.worker import run_worker, run_worker_processes

    configure_logging(verbose)
    settings = load_settings()
    if processes > 1:
        raise typer.Exit(run_worker_processes(processes, verbose=verbose))
    run_until_signal(lambda stop: run_worker(settings, stop))


@app.command()
def bridge(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the Kafka -> Temporal bridge until SIGTERM or Ctrl-C; it drains before exiting."""
    from activities.directory import DirectoryActivities
    from activities.store.engine import open_engine, session_factory
    from talentloop.service.bridge import Bridge, directory_check
    from talentloop.service.gc_tuning import tune_for_service
    from talentloop.service.temporal import connect

    configure_logging(verbose)
    settings = load_settings()

    directory = DirectoryActivities(session_factory(open_engine(settings.db_url)))

    async def run(stop: asyncio.Event) -> None:
        known = directory_check(directory.lookup, ttl=settings.directory_cache_seconds)
        client = await connect(settings)
        tune_for_service()
        await Bridge(settings, client, known_employee=known).run(stop)

    run_until_signal(run)
