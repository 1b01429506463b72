"""The directory mirrors HRIS changes; a change naming what does not exist is decided here."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.directory import DirectoryActivities
from activities.errors import FailureType
from activities.store.engine import open_engine, session_factory
from activities.store.tables import EmployeeRow, RoleRow
from schemas.events import EmployeeUpdated

ROLE = "onet:15-1252.00"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    path: Path = tmp_path_factory.mktemp("directory") / "app.db"
    factory = session_factory(open_engine(f"sqlite:///{path}"))
    with factory.begin() as s:
        s.add(RoleRow(id=ROLE, title="Software Developers"))
        s.flush()
        s.add(
            EmployeeRow(
                id="M1", name="Grace Manager", email="m1@example.com", role_id=ROLE, active=True
            )
        )
    return factory


@pytest.fixture
def directory(sessions: sessionmaker[Session]) -> DirectoryActivities:
    return DirectoryActivities(sessions)


def joined(employee_id: str, **over: object) -> EmployeeUpdated:
    values: dict[str, object] = {
        "employee_id": employee_id,
        "change": "joined",
        "role_id": ROLE,
        "name": "Ada Example",
        "email": f"{employee_id.lower()}@example.com",
        "manager_id": "M1",
    }
    values.update(over)
    return EmployeeUpdated(**values)  # type: ignore[arg-type]


def test_a_joiner_is_stored_with_their_name_and_greeted_by_it(
    directory: DirectoryActivities,
) -> None:
    employee = directory.apply_update(joined("E1"))
    assert employee is not None
    assert (employee.name, employee.email, employee.manager_name) == (
        "Ada Example",
        "e1@example.com",
        "Grace Manager",
    )
    # Applied again (a retry): the same row.
    assert directory.apply_update(joined("E1")) == employee
    renamed = directory.apply_update(
        EmployeeUpdated(employee_id="E1", change="moved", department="Ops", name="Ada Married")
    )
    assert renamed is not None and (renamed.name, renamed.department) == ("Ada Married", "Ops")


def test_a_joiner_from_before_names_existed_is_named_by_their_id(
    directory: DirectoryActivities,
) -> None:
    old = EmployeeUpdated(employee_id="E2", change="joined", role_id=ROLE)
    employee = directory.apply_update(old)
    assert employee is not None and employee.name == "E2"


def refusal(directory: DirectoryActivities, update: EmployeeUpdated) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        directory.apply_update(update)
    assert err.value.non_retryable
    return err.value


def test_a_role_the_directory_does_not_hold_refuses_the_change_for_good(
    directory: DirectoryActivities,
) -> None:
    err = refusal(directory, joined("E3", role_id="onet:99-9999.00"))
    assert err.type == FailureType.SCHEMA_INVALID
    assert "role onet:99-9999.00 is not in the directory" in err.message
    assert directory.lookup("E3") is None
    directory.apply_update(joined("E4"))
    refusal(directory, EmployeeUpdated(employee_id="E4", change="moved", role_id="onet:nope"))
    employee = directory.lookup("E4")
    assert employee is not None and employee.role_id == ROLE


def test_nobody_becomes_their_own_manager(directory: DirectoryActivities) -> None:
    """An event already inside Temporal (accepted before the rule) is refused here."""
    err = refusal(directory, joined("E5", manager_id="E5"))
    assert "cannot be their own manager" in err.message
    assert directory.lookup("E5") is None
    directory.apply_update(joined("E6"))
    refusal(directory, EmployeeUpdated(employee_id="E6", change="moved", manager_id="E6"))
    employee = directory.lookup("E6")
    assert employee is not None and employee.manager_id == "M1"


def test_an_unknown_manager_is_accepted_and_logged(
    directory: DirectoryActivities, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "talentloop.activities.directory"):
        employee = directory.apply_update(joined("E7", manager_id="M-LATER"))
    assert employee is not None
    assert (employee.manager_id, employee.manager_name) == ("M-LATER", None)
    assert "manager M-LATER of E7 is not an active employee" in caplog.text
    assert "Ada" not in caplog.text  # no personal data
    # The manager's own "joined" arrives: the employee's manager is known from then on.
    directory.apply_update(joined("M-LATER", name="Late Manager", manager_id=None))
    employee = directory.lookup("E7")
    assert employee is not None and employee.manager_name == "Late Manager"
