"""Publishing CloudEvents from files onto their type's inbound topic, keyed by employee id.

Before anything is sent, every event can be checked as the bridge will check it
(`check_events`): the bytes it would be published as, decoded by
`talentloop.service.cloudevents.decode` with the topic it would go to.
"""

from __future__ import annotations

import codecs
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talentloop.errors import UsageProblem
from talentloop.service.cloudevents import InvalidEvent, decode, inbound_topics, window_of
from talentloop.service.config import Settings


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys given twice in it or in what it holds."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    """`json` object hook: the object as `json` builds it (the last of a repeated key wins)."""
    obj = _Object(pairs)
    found = [key for key, n in Counter(key for key, _ in pairs).items() if n > 1]
    pending = list(obj.values())
    while pending:
        value = pending.pop()
        if isinstance(value, _Object):
            found.extend(value.duplicates)
        elif isinstance(value, list):
            pending.extend(value)
    if found:
        obj.duplicates = tuple(dict.fromkeys(found))
    return obj


def _one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class FileEvent:
    """One event read from a file, and where it was.

    Attributes:
        path: The file.
        position: The event's place among the file's events, from 1.
        doc: The event, a JSON object with a string ``type``.
        duplicates: JSON keys written twice in the event (the last one is what ``doc`` holds).

    """

    path: Path
    position: int
    doc: dict[str, Any]
    duplicates: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """``FILE: event N``, with `` (id "…")`` when the event has an id."""
        place = f"{self.path}: event {self.position}"
        if "id" not in self.doc:
            return place
        return f"{place} (id {_one_line(json.dumps(self.doc['id']), 80)})"


def _parse(path: Path, text: str) -> list[Any]:
    """The JSON values of a file: one object, an array of them, or one per line."""
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            parsed = json.loads(text, object_pairs_hook=_object)
            return parsed if isinstance(parsed, list) else [parsed]
        if stripped.startswith("{") and "\n{" not in stripped:
            return [json.loads(text, object_pairs_hook=_object)]
    except json.JSONDecodeError as err:
        raise UsageProblem(f"{path}: not JSON ({err.msg} at line {err.lineno})") from err
    docs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            docs.append(json.loads(line, object_pairs_hook=_object))
        except json.JSONDecodeError as err:
            raise UsageProblem(f"{path}: not JSON ({err.msg} at line {number})") from err
    return docs


def load_events(paths: list[Path]) -> list[FileEvent]:
    """Read CloudEvents from files: a JSON object, a JSON array, or one object per line.

    A UTF-8 byte order mark at the start of a file is skipped.

    Raises:
        UsageProblem: A file cannot be read, is not UTF-8, is empty (holds no event), is not
            JSON, or holds something other than a JSON object with a string ``type``.

    """
    events: list[FileEvent] = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise UsageProblem(f"cannot read {path}: {err.strerror}") from err
        skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
        try:
            text = raw[skip:].decode("utf-8")
        except UnicodeDecodeError as err:
            at = skip + err.start
            raise UsageProblem(f"{path}: not UTF-8 (byte 0x{raw[at]:02x} at offset {at})") from err
        docs = _parse(path, text)
        if not docs:
            raise UsageProblem(f"{path}: empty, no events in it")
        for position, doc in enumerate(docs, start=1):
            if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
                raise UsageProblem(
                    f"{path}: event {position}: every event must be a JSON object with a 'type'"
                )
            duplicates = doc.duplicates if isinstance(doc, _Object) else ()
            events.append(FileEvent(path, position, doc, duplicates))
    return events


@dataclass(frozen=True)
class Refusal:
    """Why the bridge would refuse an event (its DLQ reason), or why it cannot be sent at all.

    Attributes:
        event: The event.
        reason: The reason the bridge dead-letters it for, e.g. ``schema-invalid``.
        detail: What is wrong (field paths and messages, no values).
        sendable: False when the event has no topic to go to (not even with ``--force``).

    """

    event: FileEvent
    reason: str
    detail: str
    sendable: bool = True

    def __str__(self) -> str:
        """One line: where the event is, the reason and the detail."""
        return f"{self.event.where}: {self.reason}: {_one_line(self.detail)}"


def wire_value(event: dict[str, Any]) -> bytes:
    """The bytes an event is published as (structured mode, JSON)."""
    return json.dumps(event).encode()


def record_key(event: dict[str, Any]) -> bytes:
    """The Kafka key of an event: its data's employee id, else its subject, else its id."""
    data = event.get("data")
    key = data.get("employee_id") if isinstance(data, dict) else None
    return str(key or event.get("subject") or event.get("id")).encode()


def target_topic(settings: Settings, event: dict[str, Any], topic: str | None) -> str | None:
    """`topic` if given, else the inbound topic of the event's type (None: it has none)."""
    from talentloop.service.kafka import topic_for_type

    kind = event.get("type")
    return topic or (topic_for_type(settings, kind) if isinstance(kind, str) else None)


def check_events(
    settings: Settings, events: list[FileEvent], topic: str | None = None
) -> list[Refusal]:
    """The events the bridge would refuse, each with its reason; nothing is sent.

    Each event is decoded as the bridge decodes it: the bytes `publish_events` would send, on
    the topic it would send them to, with the configured size limit. Whether the employee is
    known is not checked (that needs the directory).
    """
    refused: list[Refusal] = []
    expected_topics, window = inbound_topics(settings), window_of(settings)
    for event in events:
        target = target_topic(settings, event.doc, topic)
        if target is None:
            detail = f"no topic for event type {event.doc.get('type')!r}; pass --topic"
            refused.append(Refusal(event, "unknown-type", detail, sendable=False))
            continue
        if event.duplicates:
            detail = "duplicate JSON keys: " + ", ".join(event.duplicates)
            refused.append(Refusal(event, "schema-invalid", detail))
            continue
        try:
            decode(
                wire_value(event.doc),
                [],
                topic=target,
                partition=-1,
                offset=-1,
                max_bytes=settings.max_event_bytes,
                expected_topics=expected_topics,
                window=window,
            )
        except InvalidEvent as err:
            refused.append(Refusal(event, err.reason, err.detail))
        except Exception as err:  # what the bridge dead-letters as "undecodable"
            refused.append(Refusal(event, "undecodable", type(err).__name__))
    return refused


def publish_events(
    settings: Settings, events: list[dict[str, Any]], topic: str | None = None
) -> dict[str, int]:
    """Publish structured-mode CloudEvents keyed by employee id; returns counts per topic.

    Every event's topic is found before anything is sent.

    Raises:
        UsageProblem: An event's type has no topic and `topic` is not given (nothing is sent).

    """
    from talentloop.service.kafka import make_producer

    targets = []
    for ev in events:
        target = target_topic(settings, ev, topic)
        if target is None:
            raise UsageProblem(f"no topic for event type {ev.get('type')!r}; pass --topic")
        targets.append(target)
    producer = make_producer(settings)
    counts: dict[str, int] = {}
    try:
        futures = []
        for ev, target in zip(events, targets, strict=True):
            futures.append(producer.send(target, key=record_key(ev), value=wire_value(ev)))
            counts[target] = counts.get(target, 0) + 1
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close(timeout=10)
    return counts
