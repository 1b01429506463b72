"""`talentloop goals EMPLOYEE | import FILE | alignment` and `talentloop sample-goals`.

Goal titles are personal data: these commands show them to whoever runs them (HR), and
never log them.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.core import Command, Context
from typer.core import TyperGroup

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class _GoalsGroup(TyperGroup):
    """`goals EMPLOYEE` is `goals show EMPLOYEE`: a first word that is no command is an id."""

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """Resolve the command, taking an unknown first word for an employee id."""
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


goals = typer.Typer(
    cls=_GoalsGroup,
    help="Employees' own goals: `goals EMPLOYEE`, `goals import FILE`, `goals alignment`.",
    no_args_is_help=True,
)
app.add_typer(goals, name="goals")


def _sessions() -> sessionmaker[Session]:
    from activities.store.engine import open_engine, session_factory

    return session_factory(open_engine(load_settings().db_url))


@goals.command("show")
def show(
    employee: Annotated[str, typer.Argument(help="Employee id.")],
    on: Annotated[str | None, typer.Option(help="Day (YYYY-MM-DD); default today.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """The employee's goals, their alignment and the training each drives."""
    from activities.goals import employee_goals

    day = date.fromisoformat(on) if on else date.today()
    with _sessions()() as s:
        views = employee_goals(s, employee, day)
    if as_json:
        typer.echo(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    if not views:
        typer.echo(f"{employee}: no goals")
        return
    for v in views:
        due = f", due {v.due.isoformat()}" if v.due else ""
        typer.echo(f"{v.goal_id} [{v.status}{due}, priority {v.priority:g}] {v.title}")
        if v.alignment == "aligned":
            refs = ", ".join(
                f"{o.objective_set_id}@v{o.objective_set_version}/{o.objective_id}"
                for o in v.objectives
            )
            typer.echo(f"  aligned to {refs}")
        else:
            typer.echo(f"  UNALIGNED: {v.reason}")
        typer.echo(f"  skills: {', '.join(v.skills) or '-'}")
        typer.echo(f"  training: {', '.join(v.courses) or '-'}")


@goals.command("alignment")
def alignment(
    department: Annotated[str | None, typer.Option(help="Only this department.")] = None,
    on: Annotated[str | None, typer.Option(help="Day (YYYY-MM-DD); default today.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Share of employees with a goal aligned to an objective in force, per department/role."""
    from activities.goals import alignment_report

    day = date.fromisoformat(on) if on else date.today()
    with _sessions()() as s:
        report = alignment_report(s, day, department)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    typer.echo(f"alignment on {day.isoformat()}" + (f" ({department})" if department else ""))
    header = f"{'group':<40} {'employees':>9} {'aligned':>8} {'goals':>6} {'unaligned':>10}"
    for title, rows in (
        ("total", [report.total]),
        ("by department", report.by_department),
        ("by role", report.by_role),
    ):
        typer.echo(f"\n{title}\n{header}")
        for r in rows:
            typer.echo(
                f"{(r.group or 'all')[:40]:<40} {r.employees:>9} {r.share_aligned:>8.0%} "
                f"{r.goals:>6} {r.share_unaligned:>10.0%}"
            )
    typer.echo("\nobjectives in force no goal is aligned to:")
    for ref in report.unpicked or ["(none)"]:
        typer.echo(f"  {ref}")


@goals.command("import")
def import_goals(
    file: Annotated[Path, typer.Argument(help="CSV or JSON export of the goal system.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count, send nothing.")
    ] = False,
) -> None:
    """Publish the goals of an export as goal.changed.v1 events, as `publish` does.

    Each goal's event id is derived from its content, so importing the same file again sends
    events the workflows have already seen: each goal is applied once.
    """
    from talentloop.service.goal_import import goal_events
    from talentloop.service.publishing import FileEvent, check_events, publish_events

    settings = load_settings()
    try:
        docs = goal_events(file)
    except OSError as err:
        raise UsageProblem(f"cannot read {file}: {err.strerror or err}") from err
    except ValueError as err:  # also json.JSONDecodeError, UnicodeDecodeError
        raise UsageProblem(f"{file}: {err}") from err
    events = [FileEvent(file, n, d) for n, d in enumerate(docs, 1)]
    refused = check_events(settings, events)
    for refusal in refused:
        typer.echo(f"invalid: {refusal}", err=True)
    if refused:
        raise UsageProblem(f"{len(refused)} of {len(events)} goal(s) invalid; nothing sent")
    if dry_run:
        typer.echo(f"{len(events)} goal event(s) valid; nothing sent (--dry-run)")
        return
    counts = publish_events(settings, docs)
    for name, n in sorted(counts.items()):
        typer.echo(f"published {n} goal event(s) to {name}")


@app.command("sample-goals")
def sample_goals_cmd(
    out: Annotated[Path, typer.Option(help="Write JSON lines here.")],
    count: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """Write GENERATED goal.changed events for seeded employees (for `publish`)."""
    from talentloop.dev.goal_samples import sample_goals

    events = sample_goals(_sessions(), count)
    if not events:
        raise UsageProblem("no employees in the database: run `talentloop seed` first")
    out.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    typer.echo(f"wrote {len(events)} goal event(s) to {out}")
