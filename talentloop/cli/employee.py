"""`talentloop employee export`: an employee's data, for a subject access request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem

employee_app = typer.Typer(help="One employee's personal data: export it (subject access).")
app.add_typer(employee_app, name="employee")


@employee_app.command("export")
def export(
    employee: Annotated[str, typer.Argument(help="Employee id.")],
    out: Annotated[
        Path | None, typer.Option(help="Write the JSON here (mode 0600); default stdout.")
    ] = None,
    workflow: Annotated[
        bool, typer.Option(help="Include the learning workflow's state (needs Temporal).")
    ] = True,
) -> None:
    """Everything talentloop holds about EMPLOYEE, as one JSON document (docs/privacy.md)."""
    from activities.store.engine import open_engine
    from talentloop.service.retention import database_rows, export_document, workflow_state
    from talentloop.service.temporal import connect

    settings = load_settings()
    rows = database_rows(open_engine(settings.db_url), employee)
    state: dict[str, Any] | None = None
    if workflow:

        async def read() -> dict[str, Any] | None:
            return await workflow_state(await connect(settings), employee)

        state = asyncio.run(read())
    if not rows and state is None:
        raise UsageProblem(f"talentloop holds nothing about employee {employee}")
    text = json.dumps(export_document(employee, rows, state), indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
        return
    out.touch(mode=0o600, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)
