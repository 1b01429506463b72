"""`talentloop publish` checks every event as the bridge will before anything is sent.

Invalid events are listed one line each (file, position, id, reason) and nothing is sent
unless --force; bad files end in one line and a non-zero exit. No broker: the bootstrap points
at a closed port, and the producer is replaced by one that records what would be sent (or
fails the test when anything tries to send).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.cli import CliResult, talentloop
from support.events import review_event

from schemas.events import EVENT_TYPES

CLOSED = {
    "TALENTLOOP_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    "TALENTLOOP_KAFKA_CONNECT_TIMEOUT_MS": "2000",
}


class Sent:
    """A stand-in for the Kafka producer: records every record it is given."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    def producer(self, _settings: Any) -> Sent:
        return self

    def send(self, topic: str, *, key: bytes, value: bytes) -> Sent:
        self.records.append((topic, key, value))
        return self

    def get(self, timeout: float) -> None:
        return None

    def close(self, timeout: float) -> None:
        return None


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    box = Sent()
    monkeypatch.setattr("talentloop.service.kafka.make_producer", box.producer)
    return box


@pytest.fixture
def nothing_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_settings: Any) -> None:
        raise AssertionError("a producer was made: something was about to be sent")

    monkeypatch.setattr("talentloop.service.kafka.make_producer", refuse)


def publish(tmp_path: Path, *args: str, **env: str) -> CliResult:
    return talentloop("publish", *args, env={**os.environ, **CLOSED, **env}, cwd=tmp_path)


def jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def good(n: int) -> dict[str, Any]:
    return review_event(f"E{n:05d}", f"ok-{n}", time=datetime.now(UTC).isoformat())


def fresh_examples() -> list[dict[str, Any]]:
    """The registry's example event of every inbound type, dated now (the contract accepts
    dates only in a window around the time an event is sent)."""
    now, today = datetime.now(UTC), datetime.now(UTC).date()
    events = []
    for spec in EVENT_TYPES.values():
        if spec.direction != "inbound":
            continue
        event = {**spec.example_event(), "time": now.isoformat()}
        data = event["data"]
        if "completed_at" in data:
            data["completed_at"] = now.isoformat()
        if "effective_from" in data:
            data["effective_from"] = today.isoformat()
            for objective in data["objectives"]:
                objective["due"] = (today + timedelta(days=90)).isoformat()
        events.append(event)
    return events


def test_invalid_events_are_listed_and_nothing_is_sent(tmp_path: Path, nothing_sent: None) -> None:
    first = jsonl(
        tmp_path / "a.jsonl",
        [
            good(1),
            review_event("E00002", "bad-kind", reviewer_kind="boss"),
            {k: v for k, v in good(3).items() if k != "specversion"},
        ],
    )
    second = jsonl(tmp_path / "b.jsonl", [good(4), {**good(5), "id": 42}])
    result = publish(tmp_path, str(first), str(second))
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[:3] == [
        f'invalid: {first}: event 2 (id "bad-kind"): schema-invalid: '
        "data.reviewer_kind: Input should be 'self', 'manager' or 'peer'",
        f'invalid: {first}: event 3 (id "ok-3"): not-cloudevent: '
        "no CloudEvents 'specversion' attribute",
        f"invalid: {second}: event 2 (id 42): schema-invalid: id: Input should be a valid string",
    ]
    assert lines[3:] == [
        "talentloop: 3 of 5 event(s) invalid; nothing sent "
        "(--force sends them anyway, to the bridge's DLQ)"
    ]


def test_the_check_is_the_bridges_on_the_bytes_that_would_be_sent(
    tmp_path: Path, nothing_sent: None
) -> None:
    big = review_event("E00001", "big", comments="x" * 3000)
    # Python reads NaN and would write it back: not JSON on the wire.
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(good(2)).replace('"rating": 1.0', '"rating": NaN'))
    # A key written twice would silently become one when re-serialised: refused as the
    # bridge refuses it.
    duplicated = tmp_path / "dup.json"
    duplicated.write_text(json.dumps(good(1)).replace('"id": "ok-1"', '"id": "a", "id": "b"'))
    result = publish(
        tmp_path,
        str(jsonl(tmp_path / "big.jsonl", [big])),
        str(nan),
        str(duplicated),
        TALENTLOOP_MAX_EVENT_BYTES="2048",
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(
        f'invalid: {tmp_path / "big.jsonl"}: event 1 (id "big"): oversized: '
    )
    assert lines[1].startswith(f'invalid: {nan}: event 1 (id "ok-2"): not-json: ')
    assert lines[2] == f'invalid: {duplicated}: event 1 (id "b"): schema-invalid: ' + (
        "duplicate JSON keys: id"
    )
    assert len(lines) == 4 and "nothing sent" in lines[3]


def test_force_sends_valid_and_invalid_and_reports_the_invalid(tmp_path: Path, sent: Sent) -> None:
    events = [good(1), review_event("E00002", "bad-kind", reviewer_kind="boss"), good(3)]
    path = jsonl(tmp_path / "a.jsonl", events)
    result = publish(tmp_path, str(path), "--force")
    assert result.exit_code == 0, result.stderr
    assert sent.records == [
        ("hr.reviews", e["data"]["employee_id"].encode(), json.dumps(e).encode()) for e in events
    ]
    assert result.stdout == "published 3 event(s) to hr.reviews\n"
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f'invalid: {path}: event 2 (id "bad-kind"): schema-invalid: ')
    assert "1 of them invalid, sent anyway (--force)" in lines[1] and len(lines) == 2


def test_valid_events_of_every_inbound_type_are_sent_to_their_topics(
    tmp_path: Path, sent: Sent
) -> None:
    examples = fresh_examples()
    path = tmp_path / "all.json"
    # A UTF-8 byte order mark, as some editors write one, is skipped.
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(examples, indent=2).encode())
    result = publish(tmp_path, str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert sorted(t for t, _k, _v in sent.records) == sorted(
        ["hr.reviews", "strategy.objectives", "lms.completions", "hr.employees", "hr.goals"]
    )
    assert [json.loads(v) for _t, _k, v in sent.records] == examples


def test_an_event_without_a_topic_is_never_sent_even_with_force(
    tmp_path: Path, nothing_sent: None
) -> None:
    path = jsonl(tmp_path / "a.jsonl", [good(1), {**good(2), "type": "review.deleted.v1"}])
    result = publish(tmp_path, str(path), "--force")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f'invalid: {path}: event 2 (id "ok-2"): unknown-type: no topic for event type '
        "'review.deleted.v1'; pass --topic",
        "talentloop: 1 event(s) have no topic; nothing sent (pass --topic)",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty, no events in it"),
        (b" \n\n\t\n", "empty, no events in it"),
        (b"[]", "empty, no events in it"),
        (b"\xef\xbb\xbf", "empty, no events in it"),
        (b'{"type": "review.completed.v1", "id": "\xff"}', "not UTF-8 (byte 0xff at offset 39)"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 (byte 0xff at offset 0)"),
        (b"\xef\xbb\xbf[\n\xc3(]", "not UTF-8 (byte 0xc3 at offset 5)"),
        (b'{"type": "x"}\n{"type": ', "not JSON (Expecting value at line 2)"),
    ],
)
def test_a_file_not_utf8_empty_or_not_json_is_one_line_and_a_failure(
    tmp_path: Path, nothing_sent: None, content: bytes, message: str
) -> None:
    path = tmp_path / "events.json"
    path.write_bytes(content)
    result = publish(tmp_path, str(path))
    assert result.exit_code == 2
    assert result.stderr == f"talentloop: {path}: {message}\n"


def test_the_refusal_comes_before_any_connection_to_the_broker(tmp_path: Path) -> None:
    """The real producer, a closed port: had it tried to send, it would fail on the broker
    (exit code 1, a Kafka error); the refusal (exit code 2) names the events instead."""
    path = jsonl(tmp_path / "a.jsonl", [review_event("E00002", "bad", reviewer_kind="boss")])
    result = publish(tmp_path, str(path))
    assert result.exit_code == 2
    assert "Kafka" not in result.stderr and "Traceback" not in result.stderr
    assert "nothing sent" in result.stderr


def test_the_date_window_is_a_setting(tmp_path: Path, sent: Sent) -> None:
    """A review completed three years ago is within the default five years, not within one."""
    old = (datetime.now(UTC) - timedelta(days=3 * 365)).isoformat()
    path = jsonl(tmp_path / "old.jsonl", [review_event("E00001", "old-1", completed_at=old)])
    narrow = publish(tmp_path, str(path), TALENTLOOP_EVENT_PAST_DAYS="365")
    assert narrow.exit_code == 2, narrow.stderr
    assert "schema-invalid" in narrow.stderr and "completed_at" in narrow.stderr
    assert sent.records == []
    default = publish(tmp_path, str(path))
    assert default.exit_code == 0, default.stderr
    assert len(sent.records) == 1
