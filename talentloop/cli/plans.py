"""`talentloop plan` and `talentloop approve`: a plan, and deciding its approvals."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from temporalio.service import RPCError

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem


@app.command()
def approve(
    employee: Annotated[str, typer.Argument(help="The employee whose plan item is pending.")],
    course: Annotated[str, typer.Argument(help="The course id of the pending item.")],
    approver: Annotated[str, typer.Option("--as", help="Your employee id (the approver).")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    comment: Annotated[str, typer.Option(help="A note kept on the item's timeline.")] = "",
) -> None:
    """Approve (or --reject) a pending plan item; only its current approver may."""
    from temporalio.client import WorkflowUpdateFailedError

    from schemas.learning import ApprovalDecision
    from talentloop.service.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

    settings = load_settings()
    decision = ApprovalDecision(
        course_id=course, approver_id=approver, approve=not reject, comment=comment
    )

    async def send() -> str:
        client = await connect(settings)
        handle = client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee)
        )
        try:
            item = await handle.execute_update(EmployeeLearningWorkflow.decide, decision)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise UsageProblem(getattr(cause, "message", None) or str(cause)) from err
        except RPCError as err:
            raise UsageProblem(f"no learning plan for employee {employee}: {err}") from err
        return f"{item.title}: {item.status} ({item.transitions[-1].why})"

    typer.echo(asyncio.run(send()))


@app.command()
def plan(
    employee: Annotated[str, typer.Argument(help="Employee id.")],
    timeline: Annotated[bool, typer.Option(help="Also print the timeline.")] = True,
) -> None:
    """Show an employee's learning plan: each item, its status and why; then the timeline."""
    from talentloop.service.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

    settings = load_settings()

    async def ask() -> None:
        client = await connect(settings)
        handle = client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee)
        )
        try:
            state = await handle.query(EmployeeLearningWorkflow.state)
        except RPCError as err:
            raise UsageProblem(f"no learning plan for employee {employee}: {err}") from err
        typer.echo(f"{'COURSE':<34} {'STATUS':<18} {'DUE':<11} WHY")
        for item in state.items:
            due = item.due.isoformat() if item.due else ""
            typer.echo(f"{item.course_id:<34} {item.status:<18} {due:<11} {item.reason}")
            if item.notice is not None and item.notice.status != "sent":
                typer.echo(f"{'':<34} email ({item.notice.template}): {item.notice.status}")
            if item.notification_error:
                typer.echo(f"{'':<34} ! {item.notification_error}")
        for line in state.history:
            if line.outcome == "failed":
                typer.echo(
                    f"! event {line.event_id} failed: {line.error} "
                    f"(once fixed: talentloop events retry {employee} --event {line.event_id} "
                    "--as YOUR-ID)"
                )
        if timeline:
            typer.echo("")
            for entry in state.timeline:
                typer.echo(f"{entry.at:%Y-%m-%d %H:%M} {entry.kind:<18} {entry.text}")

    asyncio.run(ask())


events_app = typer.Typer(help="An employee's events: retry the ones that failed.")
app.add_typer(events_app, name="events")


@events_app.command("retry")
def retry(
    employee: Annotated[str, typer.Argument(help="The employee whose event failed.")],
    by: Annotated[str, typer.Option("--as", help="Who retries (kept on the timeline).")],
    event: Annotated[
        str, typer.Option("--event", help="The failed event's id; default: every failed one.")
    ] = "",
    reason: Annotated[str, typer.Option(help="Why it can work now (kept on the timeline).")] = "",
) -> None:
    """Handle an employee's failed events again, once their cause is fixed (audited).

    A failed event (e.g. a move to a role imported only later) is kept by the employee's
    workflow; this re-applies it through the same path as a new arrival.
    """
    from temporalio.client import WorkflowUpdateFailedError

    from schemas.learning import EventRetry
    from talentloop.service.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

    settings = load_settings()

    async def send() -> list[str]:
        client = await connect(settings)
        handle = client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee)
        )
        try:
            return await handle.execute_update(
                EmployeeLearningWorkflow.retry_events,
                EventRetry(event_id=event, by=by, reason=reason),
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise UsageProblem(getattr(cause, "message", None) or str(cause)) from err
        except RPCError as err:
            raise UsageProblem(f"no learning plan for employee {employee}: {err}") from err

    for event_id in asyncio.run(send()):
        typer.echo(f"retrying {event_id}")
