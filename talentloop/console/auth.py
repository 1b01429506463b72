"""Console users: argon2 password hashes, roles, the sign-in throttle and the audit.

Roles:

- ``hr_admin``: reads everything and may act (approve, reject) on any pending item;
- ``hr_viewer``: reads everything, acts on nothing;
- ``manager``: reads and acts on their direct reports, and on items escalated to them (their
  reports' reports); nothing else.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.store.engine import writer_lock
from activities.store.readmodel import ConsoleAuditRow, ConsoleUserRow
from activities.store.tables import EmployeeRow

Role = Literal["hr_admin", "hr_viewer", "manager"]
ROLES: tuple[Role, ...] = ("hr_admin", "hr_viewer", "manager")

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone")
MIN_PASSWORD = 10
"""Shortest password `users add` accepts."""


class UserProblem(ValueError):
    """A user cannot be added or changed as asked (the message says why)."""


@dataclass(frozen=True)
class User:
    """A signed-in console user."""

    username: str
    role: Role
    employee_id: str | None

    @property
    def can_act(self) -> bool:
        """Whether the role may take actions at all (approve, reject)."""
        return self.role in ("hr_admin", "manager")

    @property
    def sees_all(self) -> bool:
        """Whether the role reads every employee (HR), not only a team."""
        return self.role in ("hr_admin", "hr_viewer")


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (salted, with the library's current parameters)."""
    return _HASHER.hash(password)


def add_user(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    role: str,
    employee_id: str | None = None,
    *,
    actor: str = "cli",
) -> None:
    """Create a user, or re-enable and reset one that exists (audited).

    Raises:
        UserProblem: On an unknown role, a short password, a manager without an employee id,
            or an employee id the directory does not know.
    """
    if role not in ROLES:
        raise UserProblem(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UserProblem(f"the password needs at least {MIN_PASSWORD} characters")
    if role == "manager" and not employee_id:
        raise UserProblem("a manager needs --employee (their own employee id)")
    now = datetime.now(UTC)
    with writer_lock(sessions), sessions.begin() as s:
        if employee_id and s.get(EmployeeRow, employee_id) is None:
            raise UserProblem(f"employee {employee_id} is not in the directory")
        row = s.get(ConsoleUserRow, username)
        if row is None:
            row = ConsoleUserRow(username=username, created_at=now)
            s.add(row)
        row.password_hash = hash_password(password)
        row.role = role
        row.employee_id = employee_id
        row.active = True
        row.disabled_at = None
        audit(s, actor, "user.add", username, f"role {role}", "ok")


def disable_user(
    sessions: sessionmaker[Session], username: str, reason: str, *, actor: str = "cli"
) -> None:
    """Disable a user (kept, for the audit): they can no longer sign in.

    Raises:
        UserProblem: When there is no such user.
    """
    with writer_lock(sessions), sessions.begin() as s:
        row = s.get(ConsoleUserRow, username)
        if row is None:
            raise UserProblem(f"no console user {username!r}")
        row.active = False
        row.disabled_at = datetime.now(UTC)
        audit(s, actor, "user.disable", username, reason, "ok")


def disable_users_who_left(sessions: sessionmaker[Session]) -> list[str]:
    """Disable every active user whose employee is no longer active in the directory.

    Returns:
        The usernames disabled now.
    """
    with writer_lock(sessions), sessions.begin() as s:
        rows = s.scalars(
            select(ConsoleUserRow)
            .join(EmployeeRow, EmployeeRow.id == ConsoleUserRow.employee_id)
            .where(ConsoleUserRow.active.is_(True), EmployeeRow.active.is_(False))
        ).all()
        for row in rows:
            row.active = False
            row.disabled_at = datetime.now(UTC)
            audit(s, "directory", "user.disable", row.username, "employee left", "ok")
        return [r.username for r in rows]


def verify(sessions: sessionmaker[Session], username: str, password: str) -> User | None:
    """The user when `password` is theirs and they are active; None otherwise.

    The time taken does not reveal whether the username exists.
    """
    with sessions() as s:
        row = s.get(ConsoleUserRow, username)
    hashed = row.password_hash if row is not None else _DUMMY_HASH
    try:
        _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    return User(username=row.username, role=cast(Role, row.role), employee_id=row.employee_id)


def load_user(sessions: sessionmaker[Session], username: str) -> User | None:
    """The active user `username` (a session is valid only while its user is active)."""
    with sessions() as s:
        row = s.get(ConsoleUserRow, username)
    if row is None or not row.active or row.role not in ROLES:
        return None
    return User(username=row.username, role=row.role, employee_id=row.employee_id)


def audit(s: Session, actor: str, action: str, target: str, reason: str, outcome: str) -> None:
    """Add an audit line to the session's transaction (who, what, when, why, outcome)."""
    s.add(
        ConsoleAuditRow(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            target=target[:256],
            reason=reason,
            outcome=outcome,
        )
    )


def record(
    sessions: sessionmaker[Session], actor: str, action: str, target: str, reason: str, outcome: str
) -> None:
    """Write one audit line in its own transaction."""
    with writer_lock(sessions), sessions.begin() as s:
        audit(s, actor, action, target, reason, outcome)


class Throttle:
    """Failed sign-ins allowed per username and per client address within a sliding window.

    A username gets `limit` failures per `window_s`; a client address (shared by everyone
    behind one proxy) gets `per_address` times as many.

    Args:
        limit: Failures allowed per username within the window.
        window_s: The sliding window, in seconds.
        per_address: How many times `limit` one client address may fail.
    """

    def __init__(self, limit: int = 5, window_s: float = 300.0, per_address: int = 4) -> None:
        self._limit = limit
        self._address_limit = limit * per_address
        self._window = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self._window:
            q.popleft()
        return q

    def _limit_of(self, key: str) -> int:
        return self._address_limit if key.startswith("addr:") else self._limit

    def blocked(self, *keys: str) -> bool:
        """Whether any key has used up its failures."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self._limit_of(k) for k in keys)

    def failed(self, *keys: str) -> None:
        """Count a failed sign-in against every key."""
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, username_key: str) -> None:
        """Forget the failures of a username (not of its address) after a good sign-in."""
        with self._lock:
            self._failures.pop(username_key, None)
