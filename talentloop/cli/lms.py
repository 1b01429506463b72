"""`talentloop lms ...`: the built-in LMS's courses, enrollments and completions.

``lms complete EMPLOYEE COURSE`` marks the course completed and publishes
``course.completed.v1`` on the completions topic, as a real LMS's webhook would.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from activities.lms.builtin import BuiltinLms
from activities.lms.completions import PollRequest, completion_event
from activities.lms.port import LmsError
from activities.store.engine import open_engine, session_factory
from schemas.lms import Completion
from talentloop.cli.app import app, load_settings

lms_app = typer.Typer(
    help="The LMS: courses and sessions, enrollments, completions, catalog sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(lms_app, name="lms")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"talentloop: {message}", err=True)
    return typer.Exit(1)


def _builtin() -> BuiltinLms:

    try:
        return BuiltinLms(session_factory(open_engine(load_settings().db_url)))
    except SQLAlchemyError as err:
        raise _fail(f"database: {str(err).splitlines()[0]}") from err


@lms_app.command("courses")
def courses(
    with_sessions: Annotated[
        bool, typer.Option("--sessions", help="Only courses with scheduled sessions.")
    ] = False,
) -> None:
    """List the catalog: each course's hours, skills, and its sessions' seats and waitlist."""
    catalog = _builtin().catalog()
    shown = [c for c in catalog if c.sessions or not with_sessions]
    if not shown:
        typer.echo("no courses: run `talentloop seed` first" if not catalog else "no sessions")
        return
    typer.echo(f"{'COURSE':<40} {'HOURS':>6}  {'SEATS':<22} SKILLS")
    for c in shown:
        seats = "self-paced"
        if c.sessions:
            seats = ", ".join(
                f"{s.session_id} {s.enrolled}/{s.capacity}"
                + (f" +{s.waitlisted}w" if s.waitlisted else "")
                for s in c.sessions
            )
        typer.echo(f"{c.course_id:<40} {c.hours or 0:>6.1f}  {seats:<22} {','.join(c.skills)}")
    typer.echo(f"{len(shown)} course(s)")


@lms_app.command("enrollments")
def enrollments(
    employee: Annotated[str | None, typer.Option(help="Only this employee.")] = None,
    course: Annotated[str | None, typer.Option(help="Only this course.")] = None,
    status: Annotated[
        str | None, typer.Option(help="enrolled, waitlisted, withdrawn or completed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
) -> None:
    """List enrollments, oldest first: status, session, waitlist position, due date."""
    rows = _builtin().list_enrollments(
        employee_id=employee, course_id=course, status=status, limit=limit
    )
    if not rows:
        typer.echo("no enrollments")
        return
    typer.echo(f"{'ID':<14} {'EMPLOYEE':<12} {'COURSE':<40} {'STATUS':<14} {'SESSION':<14} DUE")
    for e in rows:
        state = e.status + (f" #{e.waitlist_position}" if e.waitlist_position else "")
        typer.echo(
            f"{e.enrollment_id:<14} {e.employee_id:<12} {e.course_id:<40} {state:<14} "
            f"{e.session_id or '-':<14} {e.due or '-'}"
        )
    typer.echo(f"{len(rows)} enrollment(s)")


@lms_app.command("add-session")
def add_session(
    session_id: Annotated[str, typer.Argument(help="The session's id.")],
    course: Annotated[str, typer.Argument(help="The course it runs.")],
    capacity: Annotated[int, typer.Option(min=0, help="Seats.")],
    starts: Annotated[datetime | None, typer.Option(help="Start (ISO date/time, UTC).")] = None,
    ends: Annotated[datetime | None, typer.Option(help="End (ISO date/time, UTC).")] = None,
) -> None:
    """Create or change a course session; more seats move its waitlist up."""

    def aware(v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v

    try:
        info = _builtin().add_session(
            session_id, course, capacity, starts_at=aware(starts), ends_at=aware(ends)
        )
    except LmsError as err:
        raise _fail(str(err)) from err
    typer.echo(
        f"session {info.session_id} of {info.course_id}: {info.enrolled}/{info.capacity} "
        f"enrolled, {info.waitlisted} waitlisted"
    )


@lms_app.command("complete")
def complete(
    employee: Annotated[str, typer.Argument(help="The employee id.")],
    course: Annotated[str, typer.Argument(help="The course id.")],
    score: Annotated[float | None, typer.Option(min=0, max=100, help="Final score.")] = None,
) -> None:
    """Mark a course completed and publish `course.completed.v1` (as an LMS webhook would).

    Running it again republishes the same event (same id): the workflow counts it once.
    """
    from talentloop.service.publishing import publish_events

    try:
        done = _builtin().complete(employee, course, score=score)
    except LmsError as err:
        raise _fail(str(err)) from err
    assert done.completed_at is not None
    completion = Completion(
        enrollment_id=done.enrollment_id,
        employee_id=done.employee_id,
        course_id=done.course_id,
        completed_at=done.completed_at,
        score=score,
        source_lms=BuiltinLms.name,
    )
    settings = load_settings()
    try:
        counts = publish_events(
            settings, [completion_event(completion)], settings.topic_completions
        )
    except (KafkaError, ConnectionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _fail(
            f"{employee} completed {course}, but publishing course.completed failed "
            f"({type(err).__name__}: {first}); run the command again to publish it"
        ) from err
    topic = next(iter(counts), settings.topic_completions)
    typer.echo(
        f"{employee} completed {course} at {done.completed_at.isoformat()}; "
        f"published course.completed.v1 to {topic}"
    )


@lms_app.command("poll-schedule")
def poll_schedule(
    every_minutes: Annotated[float, typer.Option(min=0.1, help="Minutes between polls.")] = 5.0,
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue of the poll workflow; default the main one.")
    ] = None,
    lms_task_queue: Annotated[
        str | None, typer.Option(help="Task queue of the LMS activities; default the same.")
    ] = None,
) -> None:
    """Create or update the Temporal Schedule that polls the LMS for completions."""
    from talentloop.service.lms_schedule import completion_poll_schedule
    from talentloop.service.schedules import ensure_schedule
    from talentloop.service.temporal import connect
    from workflows.completion_poll import COMPLETION_POLL_SCHEDULE_ID

    settings = load_settings()
    schedule = completion_poll_schedule(
        task_queue or settings.task_queue,
        timedelta(minutes=every_minutes),
        PollRequest(activity_task_queue=lms_task_queue),
    )

    async def run() -> bool:
        client = await connect(settings)
        return await ensure_schedule(client, COMPLETION_POLL_SCHEDULE_ID, schedule)

    done = "created" if asyncio.run(run()) else "updated"
    typer.echo(f"schedule {COMPLETION_POLL_SCHEDULE_ID} {done}: a poll every {every_minutes} min")


@lms_app.command("sync")
def sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change, write nothing.")
    ] = False,
) -> None:
    """Sync the course catalog from the LMS (Moodle) into the app database.

    Each course's hours, cost, prerequisites and skills with levels are taken from the LMS;
    courses it no longer offers are left out of planning; courses it cannot map are listed.
    The Schedule ``lms-catalog-sync`` (created by `talentloop setup`) runs the same.
    """
    from activities.lms.catalog_sync import CatalogSource, write_catalog
    from talentloop.service.lms_adapter import lms_port

    settings = load_settings()
    try:
        sessions = session_factory(open_engine(settings.db_url))
        port = lms_port(settings, sessions)
    except (SQLAlchemyError, ValueError) as err:
        raise _fail(str(err).splitlines()[0]) from None
    if not isinstance(port, CatalogSource):
        typer.echo("built-in LMS: the catalog is the app database (`talentloop seed`)")
        return
    try:
        report = write_catalog(sessions, port.sync_catalog(), port.name, dry_run=dry_run)
    except LmsError as err:
        raise _fail(f"{port.name}: {err.code}: {err}") from None
    verb = "would be" if dry_run else "were"
    typer.echo(
        f"{port.name}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.withdrawn)} no longer offered ({verb} written)"
    )
    for source, count in sorted(report.skills_from.items()):
        typer.echo(f"  skills from {source}: {count} course(s)")
    if report.withdrawn:
        typer.echo(f"  no longer offered: {', '.join(report.withdrawn)}")
    if report.unmapped:
        typer.echo(f"{len(report.unmapped)} course(s) not mapped:")
        for course, reason in report.unmapped:
            typer.echo(f"  {course}: {reason}")
