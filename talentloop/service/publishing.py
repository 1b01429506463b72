"""Publishing CloudEvents from files onto their type's inbound topic, keyed by employee id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from talentloop.errors import UsageProblem
from talentloop.service.config import Settings


def load_events(paths: list[Path]) -> list[dict[str, Any]]:
    """Read CloudEvents from files: a JSON object, a JSON array, or one object per line."""
    events: list[dict[str, Any]] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise UsageProblem(f"cannot read {path}: {err.strerror}") from err
        try:
            stripped = text.lstrip()
            if stripped.startswith("["):
                docs = json.loads(text)
            elif stripped.startswith("{") and "\n{" not in stripped:
                docs = [json.loads(text)]
            else:
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise UsageProblem(f"{path}: not JSON ({err.msg} at line {err.lineno})") from err
        for doc in docs:
            if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
                raise UsageProblem(f"{path}: every event must be a JSON object with a 'type'")
        events.extend(docs)
    return events


def publish_events(
    settings: Settings, events: list[dict[str, Any]], topic: str | None = None
) -> dict[str, int]:
    """Publish structured-mode CloudEvents keyed by employee id; returns counts per topic."""
    from talentloop.service.kafka import make_producer, topic_for_type

    producer = make_producer(settings)
    counts: dict[str, int] = {}
    try:
        futures = []
        for ev in events:
            target = topic or topic_for_type(settings, ev["type"])
            if target is None:
                raise UsageProblem(f"no topic for event type {ev['type']!r}; pass --topic")
            data = ev.get("data")
            key = data.get("employee_id") if isinstance(data, dict) else None
            futures.append(
                producer.send(
                    target,
                    key=str(key or ev.get("subject") or ev.get("id")).encode(),
                    value=json.dumps(ev).encode(),
                )
            )
            counts[target] = counts.get(target, 0) + 1
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close(timeout=10)
    return counts
