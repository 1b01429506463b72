"""`talentloop console`, `talentloop projections run|rebuild`, `talentloop users ...`."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from talentloop.cli.app import app, configure_logging, load_settings, run_until_signal
from talentloop.console.secret import secret_key
from talentloop.errors import UsageProblem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from talentloop.console.plans import TemporalPlans
    from talentloop.service.config import Settings

log = logging.getLogger("talentloop.console")


def _sessions(settings: Settings) -> sessionmaker[Session]:
    from activities.store.engine import open_engine, session_factory

    return session_factory(open_engine(settings.db_url))


async def _plans(settings: Settings) -> TemporalPlans | None:
    from talentloop.console.plans import TemporalPlans
    from talentloop.service.temporal import connect

    try:
        return TemporalPlans(await asyncio.wait_for(connect(settings), 15))
    except Exception as err:
        log.warning(
            "Temporal is not reachable (%s): the console is read-only, plans are not refreshed",
            type(err).__name__,
        )
        return None


@app.command()
def console(
    host: Annotated[
        str | None, typer.Option(help="Listen address (TALENTLOOP_CONSOLE_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (TALENTLOOP_CONSOLE_PORT).")] = None,
    projector: Annotated[
        bool, typer.Option(help="Also run the read-model projector in this process.")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the HR ops console (and keep its read model current) until SIGTERM or Ctrl-C."""
    import uvicorn

    from talentloop.console.app import ConsoleConfig, create_app
    from talentloop.console.projection import ProjectionRunner

    configure_logging(verbose)
    settings = load_settings()
    sessions = _sessions(settings)
    config = ConsoleConfig(
        secret_key=secret_key(settings),
        secure_cookies=settings.console_secure_cookies,
        session_hours=settings.console_session_hours,
        sla_days=settings.approval_sla_days,
        trusted_user_header=settings.console_trusted_user_header,
    )

    async def serve(stop: asyncio.Event) -> None:
        plans = await _plans(settings)
        web = create_app(sessions, config, plans)
        server = uvicorn.Server(
            uvicorn.Config(
                web,
                host=host or settings.console_host,
                port=port or settings.console_port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(server.serve())]
        if projector:
            runner = ProjectionRunner(settings, sessions, plans)
            tasks.append(asyncio.create_task(runner.run_forever(stop)))
        typer.echo(
            f"console at http://{host or settings.console_host}:{port or settings.console_port}/",
            err=True,
        )
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    run_until_signal(serve)


projections = typer.Typer(help="The console's read model: project events, or rebuild it.")
app.add_typer(projections, name="projections")


@projections.command("run")
def projections_run(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Keep the read model current (outbound events, dead letters, plans) until SIGTERM."""
    from talentloop.console.projection import ProjectionRunner

    configure_logging(verbose)
    settings = load_settings()
    sessions = _sessions(settings)

    async def serve(stop: asyncio.Event) -> None:
        runner = ProjectionRunner(settings, sessions, await _plans(settings))
        await runner.run_forever(stop)

    run_until_signal(serve)


@projections.command("rebuild")
def projections_rebuild() -> None:
    """Empty the read model and project it again from the start of the topics."""
    from talentloop.console.projection import ProjectionRunner

    settings = load_settings()
    sessions = _sessions(settings)

    async def go() -> str:
        runner = ProjectionRunner(settings, sessions, await _plans(settings))
        p = await runner.rebuild()
        return (
            f"rebuilt: {p.applied} events applied, {p.duplicates} duplicates, "
            f"{p.unreadable} unreadable, {p.dead_letters} dead letters, {p.plans} plans"
        )

    typer.echo(asyncio.run(go()))


users = typer.Typer(help="Console users: add, disable, list.")
app.add_typer(users, name="users")


@users.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[str, typer.Option(help="hr_admin, hr_viewer or manager.")],
    employee: Annotated[
        str | None, typer.Option(help="Their employee id (required for a manager).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Add a user (or reset and re-enable one); the password is prompted or read from stdin."""
    from talentloop.console.auth import UserProblem, add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        add_user(_sessions(load_settings()), username, password, role, employee)
    except UserProblem as err:
        raise UsageProblem(str(err)) from err
    typer.echo(f"user {username} ({role}) is active")


@users.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit).")],
) -> None:
    """Disable a user: they can no longer sign in; open sessions end at their next request."""
    from talentloop.console.auth import UserProblem, disable_user

    try:
        disable_user(_sessions(load_settings()), username, reason)
    except UserProblem as err:
        raise UsageProblem(str(err)) from err
    typer.echo(f"user {username} is disabled")


@users.command("sync")
def users_sync() -> None:
    """Disable every user whose employee has left (the directory says inactive)."""
    from talentloop.console.auth import disable_users_who_left

    gone = disable_users_who_left(_sessions(load_settings()))
    typer.echo(f"disabled {len(gone)} user(s)" + (f": {', '.join(gone)}" if gone else ""))


@users.command("list")
def users_list() -> None:
    """List the users: name, role, employee, active."""
    from sqlalchemy import select

    from activities.store.readmodel import ConsoleUserRow

    with _sessions(load_settings())() as s:
        rows = s.scalars(select(ConsoleUserRow).order_by(ConsoleUserRow.username)).all()
    typer.echo(f"{'USER':<24} {'ROLE':<10} {'EMPLOYEE':<12} ACTIVE")
    for r in rows:
        typer.echo(f"{r.username:<24} {r.role:<10} {r.employee_id or '':<12} {r.active}")
