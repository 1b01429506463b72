"""The adversarial corpus without a broker: each record the bridge can judge as consumed is
refused by its decoding (`decode_record`) with the reason the corpus expects; and the corpus
is what it says (exact sizes, ids that never reach a workflow, keys the directory will know).

The whole path (broker, bridge, DLQ, workflows) is `tests/integration/test_adversarial_corpus.py`.
"""

from __future__ import annotations

import time

import pytest
from adversarial.corpus import CORPUS, KEYS, MAX_EVENT_BYTES, ONE_MIB, SIZES, Item
from kafka.consumer.fetcher import ConsumerRecord

from talentloop.service.bridge.records import decode_record
from talentloop.service.cloudevents import InvalidEvent

JUDGED_AS_CONSUMED = [i for i in CORPUS if i.layer == "record"]


def consumed(item: Item) -> ConsumerRecord:
    """The record as kafka-python's consumer hands it over (timestamp: now)."""
    return ConsumerRecord(
        "adversarial.reviews",
        0,
        -1,
        41,
        int(time.time() * 1000),
        0,
        item.key,
        item.value,
        list(item.headers),
        None,
        len(item.key or b""),
        len(item.value or b""),
        -1,
    )


@pytest.mark.parametrize("item", JUDGED_AS_CONSUMED, ids=lambda i: i.name)
def test_the_record_is_refused_with_the_expected_reason(item: Item) -> None:
    with pytest.raises(InvalidEvent) as refused:
        decode_record(consumed(item), MAX_EVENT_BYTES)
    assert refused.value.reason == item.reason, refused.value.detail


def test_the_corpus_covers_the_sizes_keys_and_ids_it_claims() -> None:
    sizes = sorted(len(i.value or b"") for i in CORPUS if i.reason == "oversized")
    assert sizes == SIZES and SIZES[0] == MAX_EVENT_BYTES + 1
    assert any(s < ONE_MIB for s in SIZES) and any(s > ONE_MIB for s in SIZES)
    assert all(i.truncated == (len(i.value or b"") > ONE_MIB) for i in CORPUS)
    assert {i.key.decode() for i in CORPUS if i.key is not None} == set(KEYS)
    assert all(i.event_id is None or i.event_id.startswith("adv-bad-") for i in CORPUS)
    # Everything else fits the bridge's limit, so its reason is not "oversized".
    assert all(len(i.value or b"") <= MAX_EVENT_BYTES for i in CORPUS if i.reason != "oversized")
