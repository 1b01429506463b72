"""Subject access: everything talentloop holds about one employee, as JSON.

The application database is read table by table (reflected, so the console's read model and
tables added later are included): the employee's directory row, every row whose
``employee_id`` is theirs, and the emails sent to their address. The employee's learning
workflow adds its state (the plan, the timeline, the handled events), read through the
payload codec.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, MetaData, or_, select
from sqlalchemy.sql.elements import ColumnElement
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.store.tables import EmployeeRow
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

SUBJECT_COLUMNS = ("employee_id", "subject_employee_id")
"""Columns naming the employee a row is about (never one naming a manager or an approver)."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def database_rows(engine: Engine, employee_id: str) -> dict[str, list[dict[str, Any]]]:
    """The employee's rows in every table of the application database, by table name.

    Args:
        engine: The application database.
        employee_id: Whose rows.

    Returns:
        Each table holding rows about the employee, with those rows (JSON-ready values).
    """
    meta = MetaData()
    meta.reflect(engine)
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        email = conn.execute(
            select(EmployeeRow.email).where(EmployeeRow.id == employee_id)
        ).scalar_one_or_none()
        for table in meta.sorted_tables:
            where: list[ColumnElement[bool]] = []
            if table.name == EmployeeRow.__tablename__:
                where.append(table.c.id == employee_id)
            where += [table.c[c] == employee_id for c in SUBJECT_COLUMNS if c in table.c]
            if email and "recipient" in table.c:
                where.append(table.c.recipient == email)
            if not where:
                continue
            rows = conn.execute(select(table).where(or_(*where))).mappings().all()
            if rows:
                found[table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    return found


async def workflow_state(client: Client, employee_id: str) -> dict[str, Any] | None:
    """The employee's learning workflow state (the `state` query), or None without one."""
    handle = client.get_workflow_handle(workflow_id_for(employee_id))
    try:
        state = await handle.query(EmployeeLearningWorkflow.state)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return state.model_dump(mode="json")


def export_document(
    employee_id: str,
    rows: dict[str, list[dict[str, Any]]],
    workflow: dict[str, Any] | None,
) -> dict[str, Any]:
    """The subject-access document: who, when, the database rows, the workflow state."""
    return {
        "employee_id": employee_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "database": rows,
        "learning_workflow": workflow,
    }
