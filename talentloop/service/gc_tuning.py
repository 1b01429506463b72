"""Garbage-collector settings for the long-running processes (bridge, worker)."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation (CPython's default: 700)."""


def tune_for_service() -> None:
    """Keep the collector off what start-up built, and run it less often.

    A service imports Temporal, pydantic, SQLAlchemy and kafka-python once and keeps those
    objects (about 200 000) for its whole life, yet every full collection scans them again;
    and a burst of events allocates fast enough to run a young collection every few records.
    Call this once start-up is done: what exists then is frozen (never scanned again, never
    freed), and the youngest generation is collected after `YOUNG_THRESHOLD` allocations.
    Reference counting still frees almost everything at once; only cycles wait longer.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
