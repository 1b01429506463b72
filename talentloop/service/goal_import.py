"""Go-live: a goal system's export (CSV or JSON) as ``goal.changed.v1`` CloudEvents.

Each goal becomes one event whose id is derived from its content, so importing the same
export again produces the same ids: the employee's workflow has seen them and applies each
goal once. The events go through `talentloop.service.publishing` as `talentloop publish`
sends them (checked as the bridge checks them first).

JSON: an array of goal objects (or ``{"goals": [...]}``) with the fields of
``goal.changed.v1`` (``change`` defaults to "set"), plus an optional ``updated_at``
(RFC 3339), which becomes the event's ``time``.

CSV (a header row): ``goal_id, employee_id, title`` and optionally ``change, due, weight,
priority, description, updated_at``, ``aligned_to`` ("set/objective" pairs separated by
";"; or the columns ``objective_set_id`` and ``objective_id`` for one) and ``skills``
("skill=level" pairs separated by ";"). Empty cells are absent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from schemas.events import GOAL_CHANGED, schema_uri

IMPORT_SOURCE = "urn:talentloop:goals-import"
"""The ``source`` of imported goal events."""

_TEXT = ("goal_id", "employee_id", "title", "change", "due", "description")


def _csv_goal(row: dict[str, str], line: int) -> dict[str, Any]:
    """One CSV row as goal data (and its ``updated_at``, if any)."""
    cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
    goal: dict[str, Any] = {k: cells[k] for k in _TEXT if cells.get(k)}
    try:
        if cells.get("weight"):
            goal["weight"] = float(cells["weight"])
        if cells.get("priority"):
            goal["priority"] = int(cells["priority"])
        refs: list[dict[str, str]] = []
        for pair in filter(None, (p.strip() for p in cells.get("aligned_to", "").split(";"))):
            set_id, _, objective_id = pair.partition("/")
            refs.append({"objective_set_id": set_id, "objective_id": objective_id})
        if cells.get("objective_set_id") or cells.get("objective_id"):
            refs.append(
                {
                    "objective_set_id": cells.get("objective_set_id", ""),
                    "objective_id": cells.get("objective_id", ""),
                }
            )
        if refs:
            goal["aligned_to"] = refs
        skills = []
        for pair in filter(None, (p.strip() for p in cells.get("skills", "").split(";"))):
            skill_id, _, level = pair.rpartition("=")
            skills.append({"skill_id": skill_id, "target_level": float(level)})
        if skills:
            goal["skills"] = skills
    except ValueError as err:
        raise ValueError(f"line {line}: {err}") from None
    if cells.get("updated_at"):
        goal["updated_at"] = cells["updated_at"]
    return goal


def read_goals(path: Path) -> list[dict[str, Any]]:
    """The goals of an export, as goal data (plus ``updated_at`` where given).

    Raises:
        ValueError: The file is neither a JSON array of objects nor a CSV with a header.
    """
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        doc = json.loads(stripped)
        items = doc.get("goals") if isinstance(doc, dict) else doc
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError("a JSON export is an array of goal objects (or {\"goals\": [...]})")
        return [dict(i) for i in items]
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "goal_id" not in reader.fieldnames:
        raise ValueError("a CSV export needs a header row naming goal_id, employee_id, title")
    return [_csv_goal(row, n) for n, row in enumerate(reader, 2)]


def goal_event(goal: dict[str, Any]) -> dict[str, Any]:
    """One goal as a structured-mode ``goal.changed.v1`` event with a content-derived id."""
    data = {k: v for k, v in goal.items() if k != "updated_at"}
    data.setdefault("change", "set")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"goal-import-{digest}",
        "source": IMPORT_SOURCE,
        "type": GOAL_CHANGED,
        "subject": str(data.get("employee_id", "")),
        "datacontenttype": "application/json",
        "dataschema": schema_uri(GOAL_CHANGED),
        "data": data,
    }
    if goal.get("updated_at"):
        event["time"] = goal["updated_at"]
    return event


def goal_events(path: Path) -> list[dict[str, Any]]:
    """The ``goal.changed.v1`` events of an export (`read_goals`), one per goal."""
    return [goal_event(g) for g in read_goals(path)]
