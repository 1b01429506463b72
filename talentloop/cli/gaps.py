"""`talentloop gaps waive` / `restore` / `list`: HR's overrides of a gap, on the record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

gaps = typer.Typer(help="HR overrides of an employee's skill gaps (audited).")
app.add_typer(gaps, name="gaps")

By = Annotated[str, typer.Option("--by", help="Who decides (your id), kept in the audit.")]


def _sessions() -> sessionmaker[Session]:
    from activities.store.engine import open_engine, session_factory

    return session_factory(open_engine(load_settings().db_url))


def _replan(employee: str, skill: str, action: str, by: str, reason: str) -> str:
    """Tell the employee's workflow (if there is one) so that the plan follows now."""
    import asyncio

    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from schemas.learning import GapOverride
    from talentloop.service.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

    change = GapOverride.model_validate(
        {"skill_id": skill, "action": action, "by": by, "reason": reason}
    )

    async def send() -> str:
        client = await connect(load_settings())
        handle = client.get_workflow_handle(workflow_id_for(employee))
        try:
            outcome = await handle.execute_update(EmployeeLearningWorkflow.gaps_changed, change)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise UsageProblem(getattr(cause, "message", None) or str(cause)) from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return "no running plan for this employee: applies at their next plan"
            raise
        return f"re-planned: {outcome}"

    return asyncio.run(send())


@gaps.command("waive")
def waive(
    employee: Annotated[str, typer.Argument(help="Employee id.")],
    skill: Annotated[str, typer.Argument(help="Skill id, e.g. onet:2.B.3.e.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, e.g. recognised prior learning.")],
    by: By = "hr",
) -> None:
    """Waive EMPLOYEE's gap in SKILL: no training is planned for it; the reason is shown."""
    from activities.store.waivers import WaiverProblem, waive_gap

    try:
        w = waive_gap(_sessions(), employee, skill, reason=reason, by=by)
    except WaiverProblem as err:
        raise UsageProblem(str(err)) from err
    typer.echo(f"waived {w.skill_id} for {w.employee_id} at {w.waived_at:%Y-%m-%d %H:%M} by {by}")
    typer.echo(_replan(employee, skill, "waived", by, reason))


@gaps.command("restore")
def restore(
    employee: Annotated[str, typer.Argument(help="Employee id.")],
    skill: Annotated[str, typer.Argument(help="Skill id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the waiver ends.")] = "",
    by: By = "hr",
) -> None:
    """End the waiver of EMPLOYEE's gap in SKILL: the gap counts again."""
    from activities.store.waivers import WaiverProblem, restore_gap

    try:
        w = restore_gap(_sessions(), employee, skill, reason=reason, by=by)
    except WaiverProblem as err:
        raise UsageProblem(str(err)) from err
    typer.echo(f"restored {w.skill_id} for {w.employee_id} by {by}")
    typer.echo(_replan(employee, skill, "restored", by, reason))


@gaps.command("list")
def list_waivers(employee: Annotated[str, typer.Argument(help="Employee id.")]) -> None:
    """Every waiver of EMPLOYEE, in force or restored: who, when, why."""
    from activities.store.waivers import waiver_history

    for w in waiver_history(_sessions(), employee):
        state = "in force" if w.active else f"restored {w.restored_at:%Y-%m-%d} by {w.restored_by}"
        typer.echo(
            f"{w.skill_id:<16} waived {w.waived_at:%Y-%m-%d} by {w.waived_by}: {w.reason} ({state})"
        )
