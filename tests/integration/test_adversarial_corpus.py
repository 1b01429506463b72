"""The adversarial corpus (`tests/adversarial/corpus.py`) through the real broker and a bridge
in a lane of its own: every bad record reaches the DLQ exactly once with its expected reason
and its original bytes (a prefix, marked ``dlq.truncated``, above 1 MiB), none reaches a
workflow, every key's valid review after the corpus is delivered exactly once, and the bridge
still consumes afterwards (an event published with ``talentloop publish`` gets through).

Every difference is collected and reported together, one line per corpus item, so one run
says which expectations the code does not meet yet. (It lives here, beside the session's stack
fixtures, rather than in ``tests/adversarial``: a conftest there re-exporting them would start
a second stack in a run of both folders.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from adversarial.corpus import (
    AFTER,
    CORPUS,
    KEYS,
    MAX_EVENT_BYTES,
    ONE_MIB,
    Item,
    valid_review,
)
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from support.cli import talentloop
from support.delivery import handled_ids, wait_all_handled, wait_handled
from support.kafka_wire import null_header_values
from temporalio.client import Client

from activities.directory import DirectoryActivities
from activities.store.tables import EmployeeRow
from talentloop.dev.teststack import lane
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.publishing import publish_events

pytestmark = pytest.mark.integration

WAIT_VALID = 30.0
"""Seconds the valid reviews get to be delivered: about 5 when no record holds up its key (a
key held by a stuck record never delivers its review)."""


@dataclass
class Running:
    settings: Settings
    bridge: Bridge
    task: asyncio.Task[None]


@pytest.fixture(scope="module")
async def adversarial(
    settings: Settings, client: Client, sessions: sessionmaker[Session], worker: None
) -> AsyncIterator[Running]:
    own = lane(settings, "adversarial")
    assert own.max_event_bytes == MAX_EVENT_BYTES  # the limit the corpus is written for
    with sessions.begin() as s:
        template = s.scalars(select(EmployeeRow).order_by(EmployeeRow.id)).first()
        assert template is not None
        for emp in [*KEYS, AFTER]:
            if s.get(EmployeeRow, emp) is None:
                s.add(
                    EmployeeRow(
                        id=emp,
                        name=f"Adversarial {emp}",
                        email=f"{emp.lower()}@example.com",
                        role_id=template.role_id,
                        department="Red Team",
                        manager_id=template.manager_id,
                        locale="en",
                    )
                )
    bridge = Bridge(
        own,
        client,
        known_employee=directory_check(DirectoryActivities(sessions).lookup),
        drain_timeout=5,
    )
    async with running(bridge) as task:
        yield Running(own, bridge, task)


class _NullValued(tuple):  # type: ignore[type-arg]
    """A header ``(key, None)`` that kafka-python's ``send`` lets through.

    The Kafka protocol allows a header without a value (a Java producer sends one), but
    kafka-python's ``send`` refuses a header value that is not bytes: its check indexes
    (``item[1]``, answered b"") while its record builder unpacks (None, written as null).
    """

    def __new__(cls, key: str) -> _NullValued:
        return super().__new__(cls, (key, None))

    def __getitem__(self, index: Any) -> Any:
        value = tuple.__getitem__(self, index)
        return b"" if value is None and index == 1 else value


def _wire_headers(item: Item) -> list[Any]:
    return [_NullValued(k) if v is None else (k, v) for k, v in item.headers]


def publish_corpus(own: Settings) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Publish every item to the reviews topic, in order; each item's partition and offset,
    and what could not be published."""
    producer = KafkaProducer(
        bootstrap_servers=own.kafka_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_request_size=8 * ONE_MIB,
    )
    placed: dict[str, tuple[int, int]] = {}
    problems: list[str] = []
    try:
        futures = []
        with null_header_values():
            for item in CORPUS:
                try:
                    future = producer.send(
                        own.topic_reviews,
                        key=item.key,
                        value=item.value,
                        headers=_wire_headers(item),
                    )
                except Exception as err:
                    problems.append(f"{item.name}: not published: {type(err).__name__}: {err}")
                    continue
                futures.append((item, future))
        for item, future in futures:
            try:
                meta = future.get(timeout=60)
            except Exception as err:
                problems.append(f"{item.name}: not published: {type(err).__name__}: {err}")
                continue
            placed[item.name] = (meta.partition, meta.offset)
    finally:
        producer.close(timeout=10)
    return placed, problems


@dataclass(frozen=True)
class Letter:
    """One DLQ record as it is on the topic: its own headers apart from the ``dlq.*`` ones."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    dlq: dict[str, str]

    @property
    def source(self) -> tuple[str, int, int]:
        return (
            self.dlq.get("dlq.topic", ""),
            int(self.dlq.get("dlq.partition", "-1")),
            int(self.dlq.get("dlq.offset", "-1")),
        )


def read_dlq(own: Settings, idle: float = 1.5) -> list[Letter]:
    """Every record of the lane's DLQ topic (read until it goes quiet)."""
    consumer = KafkaConsumer(
        bootstrap_servers=own.kafka_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * ONE_MIB,
    )
    try:
        partitions = consumer.partitions_for_topic(own.topic_dlq) or set()
        consumer.assign([TopicPartition(own.topic_dlq, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        letters: list[Letter] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle:
            for records in consumer.poll(timeout_ms=300).values():
                for r in records:
                    headers = list(r.headers or [])
                    letters.append(
                        Letter(
                            r.key,
                            r.value,
                            [(k, v) for k, v in headers if not k.startswith("dlq.")],
                            {
                                k: (v or b"").decode("utf-8", "replace")
                                for k, v in headers
                                if k.startswith("dlq.")
                            },
                        )
                    )
                quiet_since = time.monotonic()
        return letters
    finally:
        consumer.close()


def audit_letters(
    own: Settings, placed: dict[str, tuple[int, int]], letters: list[Letter]
) -> list[str]:
    """What differs from the corpus's expectations in the DLQ, one line per item."""
    problems = []
    by_source: dict[tuple[str, int, int], list[Letter]] = {}
    for letter in letters:
        by_source.setdefault(letter.source, []).append(letter)
    for item in CORPUS:
        if item.name not in placed:
            continue
        partition, offset = placed[item.name]
        found = by_source.get((own.topic_reviews, partition, offset), [])
        wanted = f"expected {item.reason}" + (f"; needs: {item.needs}" if item.needs else "")
        if len(found) != 1:
            problems.append(f"{item.name}: in the DLQ {len(found)} times ({wanted})")
            if not found:
                continue
        letter = found[0]
        said = letter.dlq.get("dlq.reason")
        if said != item.reason:
            detail = letter.dlq.get("dlq.detail", "")[:120]
            problems.append(f"{item.name}: dead-lettered as {said} ({detail}), {wanted}")
        if letter.key != item.key:
            problems.append(f"{item.name}: DLQ key {letter.key!r}, sent {item.key!r}")
        value, sent = letter.value, item.value
        truncated = "dlq.truncated" in letter.dlq
        if item.truncated:
            if not truncated:
                problems.append(f"{item.name}: no dlq.truncated header ({wanted})")
            if (
                value is None
                or len(value) >= len(sent or b"")
                or not (sent or b"").startswith(value)
            ):
                size = None if value is None else len(value)
                problems.append(f"{item.name}: DLQ value of {size} bytes is not a shorter prefix")
        else:
            if truncated:
                problems.append(f"{item.name}: marked dlq.truncated, at {len(sent or b'')} bytes")
            if value != sent:
                size = None if value is None else len(value)
                problems.append(f"{item.name}: DLQ value ({size} bytes) is not the original")
        # A corrupt record's headers cannot all go back on a topic as they came (a key that is
        # not UTF-8): the DLQ carries them marked. A null value goes as b"" and is named in
        # dlq.null-headers. Any other's are the original.
        expected = [(k, b"" if v is None else v) for k, v in item.headers]
        if item.reason != "corrupt-record" and letter.headers != expected:
            problems.append(f"{item.name}: DLQ headers are not the original ones")
    placed_at = {(own.topic_reviews, p, o) for p, o in placed.values()}
    for source, found in by_source.items():
        if source not in placed_at:
            reasons = sorted({f.dlq.get("dlq.reason", "?") for f in found})
            problems.append(
                f"DLQ holds {len(found)} record(s) from {source} not in the corpus: {reasons}"
            )
    return problems


async def audit_workflows(client: Client) -> list[str]:
    """Corpus event ids some workflow handled (none may be), and keys whose valid review was
    not delivered exactly once."""
    problems = []
    try:
        seen = await wait_all_handled(client, "adv-ok", 1, timeout=WAIT_VALID, employees=KEYS)
    except AssertionError:
        seen = await handled_ids(client, "adv-ok", KEYS)
    for emp in KEYS:
        if seen[emp] != [f"adv-ok-{emp}"]:
            behind = [i.name for i in CORPUS if i.key == emp.encode()]
            problems.append(
                f"key {emp}: valid review handled {seen[emp]} after {len(behind)} corpus "
                f"record(s) (first: {behind[0] if behind else '-'}; last: "
                f"{behind[-1] if behind else '-'})"
            )
    ids = {i.event_id: i.name for i in CORPUS if i.event_id is not None}
    delivered = await handled_ids(client, "adv-bad", [*KEYS, AFTER])
    for emp, handled in delivered.items():
        for event_id in handled:
            problems.append(f"{ids.get(event_id, event_id)}: delivered to {emp}'s workflow")
    return problems


async def test_every_corpus_record_is_dead_lettered_once_and_the_bridge_goes_on(
    adversarial: Running, client: Client, tmp_path: Path
) -> None:
    own, bridge = adversarial.settings, adversarial.bridge
    before = bridge.stats.dead_lettered
    started = time.monotonic()
    placed, problems = await asyncio.to_thread(publish_corpus, own)
    reviews = [valid_review(emp, f"adv-ok-{emp}") for emp in KEYS]
    await asyncio.to_thread(publish_events, own, reviews)

    problems += await audit_workflows(client)
    letters = await asyncio.to_thread(read_dlq, own)
    problems += audit_letters(own, placed, letters)
    lettered = bridge.stats.dead_lettered - before
    if lettered != len(placed):
        problems.append(
            f"the bridge dead-lettered {lettered} records, the corpus has {len(placed)}"
        )
    if adversarial.task.done():
        crash = adversarial.task.exception() if not adversarial.task.cancelled() else "cancelled"
        problems.append(f"the bridge stopped: {crash!r}")

    # After the audit: one more valid event, published by the CLI, still gets through.
    after = tmp_path / "after.jsonl"
    after.write_text(json.dumps(valid_review(AFTER, "adv-after-audit")) + "\n")
    result = talentloop("publish", str(after), env=own.to_env(), cwd=tmp_path)
    if result.exit_code != 0:
        problems.append(f"talentloop publish after the audit: {result.exit_code} {result.stderr}")
    else:
        try:
            await wait_handled(client, AFTER, "adv-after-audit", timeout=30)
        except AssertionError:
            problems.append("the event published after the audit was not delivered")

    took = time.monotonic() - started
    assert not problems, (
        f"{len(problems)} difference(s) from the corpus's expectations ({len(CORPUS)} items, "
        f"{took:.0f} s):\n" + "\n".join(problems)
    )
