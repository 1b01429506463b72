"""The committable offset never passes a record that is still in flight."""

from hypothesis import given
from hypothesis import strategies as st

from talentloop.service.bridge.offsets import OffsetTracker


def test_out_of_order_finish_commits_only_the_prefix() -> None:
    t = OffsetTracker()
    for o in (10, 11, 12, 15):
        t.dispatched(o)
    assert t.committable() is None
    t.finished(11)
    assert t.committable() is None
    t.finished(10)
    assert t.committable() == 12
    t.committed(12)
    assert t.committable() is None
    t.finished(15)
    assert t.committable() is None and t.pending == 1
    t.finished(12)
    assert t.committable() == 16 and t.pending == 0


@given(st.permutations(list(range(30))), st.integers(0, 30))
def test_prefix_property(order: list[int], stop: int) -> None:
    t = OffsetTracker()
    offsets = [100 + 2 * i for i in range(30)]  # gaps, as after compaction
    for o in offsets:
        t.dispatched(o)
    done = {offsets[i] for i in order[:stop]}
    for o in done:
        t.finished(o)
    c = t.committable()
    prefix = 0
    while prefix < len(offsets) and offsets[prefix] in done:
        prefix += 1
    assert c == (offsets[prefix - 1] + 1 if prefix else None)
    assert t.pending == len(offsets) - len(done)


def test_resume_offset_is_the_first_record_not_handled_yet():
    t = OffsetTracker()
    assert t.resume_offset() is None
    for offset in (10, 11, 12, 13):
        t.dispatched(offset)
    assert t.resume_offset() == 10
    t.finished(12)  # out of order: 10 and 11 still in flight
    assert t.resume_offset() == 10
    t.finished(10)
    assert t.resume_offset() == 11
    t.finished(11)
    t.finished(13)
    assert t.resume_offset() == 14  # everything handled: go on after the last one
