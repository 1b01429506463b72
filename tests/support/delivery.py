"""What reached the employee workflows: their state, the events each handled (once, in order),
and the consumer group's committed offsets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from schemas.events import EMPLOYEE_UPDATED
from schemas.learning import EmployeeLearningState
from support.events import cloudevent
from support.polling import eventually
from talentloop.service.config import Settings
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

EMPLOYEES = [f"E{i:05d}" for i in range(10, 26)]
"""The employees the delivery tests move between departments."""


async def state_of(client: Client, employee_id: str) -> EmployeeLearningState:
    """The employee's learning state, as their workflow answers the query."""
    handle = client.get_workflow_handle(workflow_id_for(employee_id))
    return await handle.query(EmployeeLearningWorkflow.state)


def no_workflow(err: RPCError) -> bool:
    """Whether a Temporal call failed because the workflow does not exist (yet)."""
    return err.status == RPCStatusCode.NOT_FOUND


async def handled(client: Client, employee_id: str, event_id: str) -> EmployeeLearningState | None:
    """The employee's state once their workflow has handled `event_id`; None before (also while
    there is no workflow to ask yet).

    Raises:
        RPCError: Temporal failed otherwise (`wait_handled` retries, and names the last one if
            it times out).
        WorkflowQueryFailedError: The workflow cannot answer (its task fails): not a "not yet".
    """
    try:
        state = await state_of(client, employee_id)
    except RPCError as err:
        if no_workflow(err):
            return None
        raise
    return state if any(h.event_id == event_id for h in state.history) else None


async def wait_handled(
    client: Client, employee_id: str, event_id: str, timeout: float = 60.0
) -> EmployeeLearningState:
    """Wait until the employee's workflow has handled `event_id`; its state then."""
    return await eventually(
        lambda: handled(client, employee_id, event_id),
        timeout,
        ignoring=(RPCError,),
        message=f"{event_id} not handled",
    )


async def state_until(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[EmployeeLearningState], bool],
    timeout: float = 30.0,
) -> EmployeeLearningState:
    """Query the workflow every 0.1 s until its state satisfies `predicate`; that state."""
    return await eventually(
        lambda: handle.query(EmployeeLearningWorkflow.state),
        timeout,
        interval=0.1,
        until=predicate,
        message=lambda state: state.timeline[-5:],
    )


def moves(prefix: str, per_employee: int) -> list[dict[str, Any]]:
    """`employee.updated` (moved) events for every one of `EMPLOYEES`, interleaved: event n of
    each employee, then event n + 1 of each; ids ``{prefix}-{employee}-{n}``."""
    now = datetime.now(UTC).isoformat()
    return [
        cloudevent(
            EMPLOYEE_UPDATED,
            f"{prefix}-{emp}-{n}",
            {"employee_id": emp, "change": "moved", "department": f"D{n}"},
            time=now,
        )
        for n in range(per_employee)
        for emp in EMPLOYEES
    ]


async def handled_ids(
    client: Client, prefix: str, employees: list[str] = EMPLOYEES
) -> dict[str, list[str]]:
    """Per employee, the ids of the events starting with `prefix` the workflow handled, in order
    (none for an employee without a workflow). Raises what `handled` raises."""
    out: dict[str, list[str]] = {}
    for emp in employees:
        try:
            state = await state_of(client, emp)
        except RPCError as err:
            if not no_workflow(err):
                raise
            out[emp] = []
            continue
        out[emp] = [h.event_id for h in state.history if h.event_id.startswith(prefix + "-")]
    return out


async def wait_all_handled(
    client: Client,
    prefix: str,
    per_employee: int,
    timeout: float = 180,
    employees: list[str] = EMPLOYEES,
) -> dict[str, list[str]]:
    """Wait until every employee's workflow handled `per_employee` of the `prefix` events."""
    return await eventually(
        lambda: handled_ids(client, prefix, employees),
        timeout,
        interval=0.5,
        until=lambda seen: all(len(ids) >= per_employee for ids in seen.values()),
        ignoring=(RPCError,),
        message=lambda seen: {k: len(v) for k, v in seen.items()} if seen else "no answer",
    )


def assert_exactly_once_in_order(
    seen: dict[str, list[str]], prefix: str, per_employee: int
) -> None:
    """Each employee handled each of their `moves(prefix, per_employee)` once, in order."""
    for emp, ids in seen.items():
        assert ids == [f"{prefix}-{emp}-{n}" for n in range(per_employee)], (emp, ids)


def committed(settings: Settings) -> dict[int, int | None]:
    """The consumer group's committed offset of each partition of the employees topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
    )
    try:
        return {
            p: consumer.committed(TopicPartition(settings.topic_employees, p))
            for p in range(settings.topic_partitions)
        }
    finally:
        consumer.close()


def fresh_employee(sessions: Any, like: str, tag: str) -> str:
    """A new employee, in `like`'s role, department and manager, that no other test has touched:
    no workflow of theirs exists on any task queue, and their mailbox is empty."""
    from activities.store.tables import EmployeeRow

    new_id = f"X{tag}"
    with sessions.begin() as s:
        model = s.get(EmployeeRow, like)
        assert model is not None, like
        if s.get(EmployeeRow, new_id) is None:
            s.add(
                EmployeeRow(
                    id=new_id,
                    name=f"Person {new_id}",
                    email=f"{new_id.lower()}@example.com",
                    role_id=model.role_id,
                    department=model.department,
                    manager_id=model.manager_id,
                    locale=model.locale,
                )
            )
    return new_id
