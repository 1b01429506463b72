"""`talentloop rollout ...`: strategy rollouts of a new objective-set version.

``rollout preview FILE`` validates an objective-set file, diffs it against the version in
force and previews its impact on every employee in scope, writing nothing. ``rollout submit``
publishes it (the bridge starts its rollout); ``approve`` / ``reject`` / ``pause`` /
``resume`` / ``cancel`` steer a rollout (validated, audited updates); ``status`` follows one
live and ``list`` shows them all.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from schemas.preview import EmployeeImpact, PreviewSummary
from schemas.rollout import RolloutProgress
from talentloop.cli.app import app, load_settings
from talentloop.errors import TalentloopError, UsageProblem

if TYPE_CHECKING:
    from temporalio.client import Client

    from talentloop.service.rollout_client import Control

T = TypeVar("T")

rollout_app = typer.Typer(
    help="Strategy rollouts: preview, submit, approve and follow a new objective-set version.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rollout_app, name="rollout")

_CSV_COLUMNS = (
    "employee_id",
    "role_id",
    "department",
    "gaps_before",
    "gaps_after",
    "new_gaps",
    "closed_gaps",
    "courses_before",
    "courses_after",
    "create",
    "withdraw",
    "approvals",
    "approver_id",
    "hours",
    "cost",
    "emails",
)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise UsageProblem(f"--on {text!r}: not a date (YYYY-MM-DD)") from err


@rollout_app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(help="The objective-set file (YAML or .json).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the per-employee detail (.json or .csv)."),
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(help="Day to compute for (default: today, or the set's effective_from)."),
    ] = None,
) -> None:
    """Validate FILE, diff it against the version in force, and preview its impact; no writes."""
    from sqlalchemy.exc import SQLAlchemyError

    from activities.rollout.authoring import ObjectiveSetFileError, read_objective_set
    from activities.rollout.preview import PlanRules, preview_authored
    from activities.store.engine import open_engine, session_factory
    from workflows.employee.approvals import approver_for, needs_approval

    if output is not None and output.suffix.lower() not in (".json", ".csv"):
        raise UsageProblem(f"--output {output}: name a .json or .csv file")
    day = _day(on)
    try:
        authored = read_objective_set(file)
        settings = load_settings()
        snapshot = settings.policy_snapshot()
        result = preview_authored(
            session_factory(open_engine(settings.db_url)),
            authored,
            on=day,
            now=datetime.now(UTC),
            policy=snapshot.policy,
            rules=PlanRules(needs_approval=needs_approval, approver_for=approver_for),
            policy_version=snapshot.version,
        )
    except ObjectiveSetFileError as err:
        raise UsageProblem(str(err)) from err
    except SQLAlchemyError as err:
        raise TalentloopError(f"database: {str(err).splitlines()[0]}") from err
    if not result.summary.in_scope:
        raise TalentloopError("no active employees in the directory: run `talentloop seed` first")
    for line in render_summary(result.summary):
        typer.echo(line)
    if output is not None:
        try:
            write_detail(output, result.summary, result.employees)
        except OSError as err:
            raise TalentloopError(f"cannot write {output}: {err.strerror}") from err
        typer.echo(f"per-employee detail: {output} ({len(result.employees)} affected employees)")


def _num(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def render_summary(summary: PreviewSummary) -> list[str]:
    """The summary as lines of text."""
    d = summary.diff
    old = f"v{d.old_version}" if d.old_version is not None else "nothing in force"
    out = [
        f"objective set {d.set_id} v{d.new_version} (effective {d.new_effective_from}) "
        f"against {old}; computed for {summary.on}, policy {summary.policy_version or '-'}",
        f"objectives: {len(d.of_kind('added'))} added, {len(d.of_kind('removed'))} removed, "
        f"{len(d.of_kind('changed'))} changed, {len(d.unchanged)} unchanged",
    ]
    for c in d.changes:
        what = f" ({', '.join(c.fields)})" if c.fields else ""
        out.append(f"  {c.change:<8} {c.objective_id}{what}")
        out.extend(f"           {line}" for line in c.details)
    out += [
        f"employees: {summary.affected:,} affected of {summary.in_scope:,} in scope",
        "  by department: "
        + (", ".join(f"{k} {v:,}" for k, v in summary.affected_by_department.items()) or "-"),
        "  by role: "
        + (", ".join(f"{k} {v:,}" for k, v in summary.affected_by_role.items()) or "-"),
        f"gaps: {summary.new_gaps:,} new, {summary.closed_gaps:,} closed, "
        f"{summary.changed_gaps:,} changed",
        f"enrollments: {summary.enrollments_create:,} to create "
        f"({summary.employees_with_new_courses:,} employees), "
        f"{summary.enrollments_withdraw:,} to withdraw (waived: their gaps close)",
        f"hours: {_num(summary.hours_total)} total; per employee with new courses "
        f"p50 {_num(summary.hours_per_employee.p50)}, p95 {_num(summary.hours_per_employee.p95)}, "
        f"max {_num(summary.hours_per_employee.max)}",
        f"learning load: {summary.scheduled_later:,} courses scheduled for later months "
        f"({summary.employees_over_budget:,} employees over their monthly learning hours); "
        f"hours due within three months per employee p50 "
        f"{_num(summary.hours_next_quarter_per_employee.p50)}, "
        f"p95 {_num(summary.hours_next_quarter_per_employee.p95)}, "
        f"max {_num(summary.hours_next_quarter_per_employee.max)}",
        f"cost: {summary.cost_total:,.2f}",
        f"approvals: {summary.approvals:,} for {summary.approvers:,} approvers",
        f"emails: {summary.emails:,} ("
        + (", ".join(f"{k} {v:,}" for k, v in sorted(summary.emails_by_template.items())) or "none")
        + ")",
    ]
    if summary.seats:
        out.append("seats (sessions, first come first served):")
        for s in summary.seats:
            free = max(0, s.capacity - s.taken)
            flag = f"  OVERFLOW: {s.waitlisted:,} waitlisted" if s.waitlisted else ""
            out.append(
                f"  {s.session_id:<28} {s.course_id:<36} needs {s.needed:>5,} of {free:>5,} free"
                f" ({s.capacity:,} seats){flag}"
            )
    else:
        out.append("seats: no new enrollment needs a session seat (self-paced courses)")
    if summary.overflow_sessions:
        out.append("sessions overflowing into waitlists: " + ", ".join(summary.overflow_sessions))
    if summary.no_session:
        out.append("courses without an open session: " + ", ".join(summary.no_session))
    out.append(
        f"plans: {summary.plans_computed:,} computed, {summary.plans_reused:,} reused "
        "(same gap signature); nothing was written"
    )
    return out


def write_detail(path: Path, summary: PreviewSummary, employees: list[EmployeeImpact]) -> None:
    """Write the per-employee detail: JSON (with the summary) or CSV (one row per employee)."""
    if path.suffix.lower() == ".json":
        body = {
            "summary": summary.model_dump(mode="json"),
            "employees": [e.model_dump(mode="json") for e in employees],
        }
        path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(_CSV_COLUMNS)
        for e in employees:
            row = e.model_dump(mode="json")
            writer.writerow(
                [" ".join(v) if isinstance(v, list) else v for v in (row[c] for c in _CSV_COLUMNS)]
            )


# -- the rollout itself (issue 21) ---------------------------------------------------------


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _client() -> Client:
    from talentloop.service.temporal import connect

    return await connect(load_settings())


@rollout_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="The objective-set file (YAML or .json).")],
    auto_approve: Annotated[
        bool,
        typer.Option("--auto-approve", help="Approve it at once (scripted use), as --as."),
    ] = False,
    by: Annotated[
        str | None,
        typer.Option("--as", help="The approver for --auto-approve (default: the first one)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the rollout's audit).")] = "",
) -> None:
    """Publish FILE as `objectives.changed.v1`: the bridge starts its rollout.

    The rollout awaits approval (`rollout approve`) unless --auto-approve.
    """
    from activities.rollout.authoring import (
        ObjectiveSetFileError,
        read_objective_set,
        to_event_data,
    )
    from schemas.rollout import RolloutAction
    from talentloop.service.publishing import publish_events
    from talentloop.service.rollout_client import approve_when_started, rollout_id, submit_event

    settings = load_settings()
    try:
        authored = read_objective_set(file)
    except ObjectiveSetFileError as err:
        raise UsageProblem(str(err)) from err
    approver = by or (settings.rollout_approvers[0] if settings.rollout_approvers else None)
    if auto_approve and approver is None:
        raise UsageProblem("--auto-approve needs --as or TALENTLOOP_ROLLOUT_APPROVERS")
    s = authored.objective_set
    event = submit_event(to_event_data(s), datetime.now(UTC))
    publish_events(settings, [event])
    workflow_id = rollout_id(s.id, s.version)
    typer.echo(f"published {s.id} v{s.version}: rollout {workflow_id}")
    if auto_approve and approver is not None:
        action = RolloutAction(by=approver, reason=reason or "auto-approved at submit")

        async def approve() -> str:
            found = await approve_when_started(await _client(), workflow_id, action)
            return found.status

        typer.echo(f"approved by {approver}: {_run(approve())}")
    else:
        typer.echo(f"awaiting approval: talentloop rollout approve {s.id} --version {s.version}")


@rollout_app.command("rollback")
def rollback(
    set_id: Annotated[str, typer.Argument(metavar="SET", help="The objective set id.")],
    to: Annotated[int, typer.Option("--to", help="The version to put in force again.")],
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Approve it at once, as --as.")
    ] = False,
    by: Annotated[str | None, typer.Option("--as", help="The approver for --auto-approve.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the rollout's audit).")] = "",
) -> None:
    """Put an earlier version in force again: its objectives go out as the next version.

    It is a rollout like any other (approval, canary, waves, audit); each employee's plan
    follows, and courses whose gaps close are waived (completed work and evidence are kept).
    """
    from activities.rollout.authoring import to_event_data
    from activities.store.engine import open_engine, session_factory
    from schemas.rollout import RolloutAction
    from talentloop.service.publishing import publish_events
    from talentloop.service.rollout_client import (
        ROLLBACK_SOURCE,
        approve_when_started,
        rollback_set,
        rollout_id,
        submit_event,
    )

    settings = load_settings()
    approver = by or (settings.rollout_approvers[0] if settings.rollout_approvers else None)
    if auto_approve and approver is None:
        raise UsageProblem("--auto-approve needs --as or TALENTLOOP_ROLLOUT_APPROVERS")
    now = datetime.now(UTC)
    with session_factory(open_engine(settings.db_url))() as s:
        again = rollback_set(s, set_id, to, now.date())
    publish_events(settings, [submit_event(to_event_data(again), now, ROLLBACK_SOURCE)])
    workflow_id = rollout_id(again.id, again.version)
    typer.echo(f"published {again.id} v{again.version} (the objectives of v{to}): {workflow_id}")
    if auto_approve and approver is not None:
        why = reason or f"rollback to v{to}"
        action = RolloutAction(by=approver, reason=why)

        async def approve() -> str:
            found = await approve_when_started(await _client(), workflow_id, action)
            return found.status

        typer.echo(f"approved by {approver}: {_run(approve())}")
    else:
        typer.echo(
            f"awaiting approval: talentloop rollout approve {again.id} --version {again.version}"
        )


def _control(op: Control, set_id: str, version: int | None, by: str, reason: str) -> None:
    from schemas.rollout import RolloutAction
    from talentloop.service.rollout_client import control, latest_rollout, rollout_id

    async def send() -> RolloutProgress:
        client = await _client()
        wid = rollout_id(set_id, version) if version else await latest_rollout(client, set_id)
        return await control(client, wid, op, RolloutAction(by=by, reason=reason))

    for line in render_progress(_run(send())):
        typer.echo(line)


_SET = Annotated[str, typer.Argument(metavar="SET", help="The objective set id.")]
_VERSION = Annotated[
    int | None, typer.Option("--version", help="Its version (default: the newest rollout).")
]
_BY = Annotated[str, typer.Option("--as", help="Your employee id (an HR rollout approver).")]
_WHY = Annotated[str, typer.Option("--reason", help="Why (kept in the rollout's audit).")]


@rollout_app.command("approve")
def approve(set_id: _SET, by: _BY, version: _VERSION = None, reason: _WHY = "") -> None:
    """Approve a rollout awaiting approval: its canary wave starts."""
    _control("approve", set_id, version, by, reason)


@rollout_app.command("reject")
def reject(set_id: _SET, by: _BY, reason: _WHY, version: _VERSION = None) -> None:
    """Reject a rollout awaiting approval: nothing is sent, the version is not recorded."""
    _control("reject", set_id, version, by, reason)


@rollout_app.command("pause")
def pause(set_id: _SET, by: _BY, reason: _WHY, version: _VERSION = None) -> None:
    """Pause a running rollout after the batch in flight."""
    _control("pause", set_id, version, by, reason)


@rollout_app.command("resume")
def resume(set_id: _SET, by: _BY, reason: _WHY, version: _VERSION = None) -> None:
    """Resume a paused rollout (past the health gate if it paused it)."""
    _control("resume", set_id, version, by, reason)


@rollout_app.command("cancel")
def cancel(set_id: _SET, by: _BY, reason: _WHY, version: _VERSION = None) -> None:
    """Cancel a running rollout; employees already signalled keep the version."""
    _control("cancel", set_id, version, by, reason)


def render_progress(p: RolloutProgress) -> list[str]:
    """A rollout's progress as lines of text."""
    eta = f", ETA {p.eta_s:,.0f} s" if p.eta_s is not None and p.status != "completed" else ""
    out = [
        f"rollout of {p.objective_set} v{p.version}: {p.status}"
        + (f" ({p.reason})" if p.reason else ""),
        f"employees: {p.in_scope:,} in scope; {p.pending:,} pending, {p.signalled:,} signalled, "
        f"{p.applied:,} applied, {p.failed:,} failed",
        f"wave {p.wave}; {p.rate_per_s:,.1f} employees/s{eta}",
    ]
    if p.preview is not None and p.status == "awaiting-approval":
        v = p.preview
        out.append(
            f"preview: {v.unavailable}"
            if v.unavailable
            else f"preview ({v.on}): {v.affected:,} of {v.in_scope:,} employees affected; "
            f"{v.new_gaps:,} new gaps, {v.closed_gaps:,} closed; {v.enrollments_create:,} "
            f"enrollments to create, {v.enrollments_withdraw:,} to withdraw; "
            f"{v.hours_total:,.1f} h, cost {v.cost_total:,.2f}; {v.approvals:,} approvals, "
            f"{v.emails:,} emails"
            + (f"; waitlists: {', '.join(v.overflow_sessions)}" if v.overflow_sessions else "")
        )
    for w in p.waves:
        state = "done" if w.done else "in progress"
        out.append(
            f"  wave {w.wave:<3} {w.kind:<6} {w.signalled:>6,} signalled {w.failed:>4,} failed"
            f"  {state}"
        )
    out.extend(f"  {a.at:%Y-%m-%d %H:%M:%S} {a.action:<12} {a.by:<24} {a.reason}" for a in p.audit)
    return out


@rollout_app.command("status")
def status(
    set_id: _SET,
    version: _VERSION = None,
    watch: Annotated[
        bool, typer.Option("--watch/--once", help="Follow it live until it ends.")
    ] = True,
) -> None:
    """A rollout's progress: live (a progress bar on a terminal) until it ends."""
    from schemas.rollout import FINISHED
    from talentloop.service.rollout_client import latest_rollout, progress, rollout_id

    async def follow() -> RolloutProgress:
        client = await _client()
        wid = rollout_id(set_id, version) if version else await latest_rollout(client, set_id)
        found = await progress(client, wid)
        if found is None:
            raise UsageProblem(f"no rollout {wid}")
        if not watch or found.status in FINISHED:
            return found
        return await _live(client, wid, found)

    for line in render_progress(_run(follow())):
        typer.echo(line)


async def _live(client: Client, wid: str, found: RolloutProgress) -> RolloutProgress:
    """Follow the progress until the rollout ends: a rich bar on a terminal, else lines."""
    import sys

    from schemas.rollout import FINISHED
    from talentloop.service.rollout_client import progress

    if not sys.stdout.isatty():
        last = ""
        while found.status not in FINISHED:
            line = render_progress(found)[1]
            if line != last:
                typer.echo(f"{found.status}: {line}")
                last = line
            await asyncio.sleep(1.0)
            found = await progress(client, wid) or found
        return found
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task(found.status, total=max(1, found.in_scope))
        while found.status not in FINISHED:
            bar.update(
                task,
                description=f"{found.status} wave {found.wave}",
                total=max(1, found.in_scope),
                completed=found.signalled + found.failed,
            )
            await asyncio.sleep(1.0)
            found = await progress(client, wid) or found
    return found


@rollout_app.command("list")
def list_() -> None:
    """Every rollout with its state."""
    from talentloop.service.rollout_client import list_rollouts

    async def rows() -> list[str]:
        out = [f"{'ROLLOUT':<40} {'STATE':<18} {'SIGNALLED':>10} {'IN SCOPE':>9}"]
        for r in await list_rollouts(await _client()):
            p = r.progress
            state = p.status if p is not None else r.execution
            counts = f"{p.signalled:>10,} {p.in_scope:>9,}" if p is not None else ""
            out.append(f"{r.workflow_id:<40} {state:<18} {counts}")
        return out

    for line in _run(rows()):
        typer.echo(line)
