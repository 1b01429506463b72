"""`talentloop worker` and `talentloop bridge`: the service processes."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from talentloop.cli.app import app, configure_logging, load_settings, run_until_signal
from talentloop.service.supervisor import STOP_TIMEOUT


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
    stop_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="With --processes: seconds each process gets to stop before it is killed.",
        ),
    ] = STOP_TIMEOUT,
) -> None:
    """Run a Temporal worker (workflows and activities) until SIGTERM or Ctrl-C.

    With --processes N, a process that ends is started again after a back-off while the
    others go on; one that keeps failing right after it starts ends the command.
    """
    from talentloop.service.worker import run_worker, run_worker_processes

    configure_logging(verbose)
    settings = load_settings()
    if processes > 1:
        raise typer.Exit(
            run_worker_processes(processes, verbose=verbose, stop_timeout=stop_timeout)
        )
    run_until_signal(lambda stop: run_worker(settings, stop))


@app.command()
def bridge(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the Kafka -> Temporal bridge until SIGTERM or Ctrl-C; it drains before exiting."""
    from activities.directory import DirectoryActivities
    from activities.goals import GoalActivities
    from activities.store.engine import open_engine, session_factory
    from talentloop.service.bridge import Bridge, directory_check, skills_check
    from talentloop.service.gc_tuning import tune_for_service
    from talentloop.service.temporal import connect

    configure_logging(verbose)
    settings = load_settings()

    sessions = session_factory(open_engine(settings.db_url))
    directory = DirectoryActivities(sessions)
    goals = GoalActivities(sessions)

    async def run(stop: asyncio.Event) -> None:
        known = directory_check(directory.lookup, ttl=settings.directory_cache_seconds)
        client = await connect(settings)
        tune_for_service()
        unknown_skills = skills_check(goals.known_skills)
        await Bridge(
            settings, client, known_employee=known, unknown_skills=unknown_skills
        ).run(stop)

    run_until_signal(run)
