"""Protecting an LMS: a token-bucket rate limit and a bound on concurrent calls.

These bound one process; across all workers the LMS activities run on a dedicated task
queue whose workers set ``max_task_queue_activities_per_second`` (the queue-wide rate, kept
by the Temporal server) and ``max_concurrent_activities``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class TokenBucket:
    """At most ``rate`` acquisitions a second on average, ``burst`` at once; thread-safe."""

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """A bucket that refills ``rate`` tokens a second up to ``burst`` (default: 1 second's).

        Args:
            rate: Calls per second; 0 or less means unlimited.
            burst: Most tokens held at once.
            clock: Monotonic seconds.
            sleep: How to wait.
        """
        self.rate = rate
        self.burst = max(1, burst if burst is not None else int(rate) or 1)
        self._tokens = float(self.burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = (1 - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay


class CallGate:
    """Rate limit plus bounded concurrency around each call to an LMS."""

    def __init__(self, calls_per_second: float, max_concurrent: int) -> None:
        """Allow ``calls_per_second`` (0: unlimited) and ``max_concurrent`` calls in flight."""
        self.bucket = TokenBucket(calls_per_second)
        self.max_concurrent = max(1, max_concurrent)
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0

    @contextmanager
    def call(self) -> Iterator[None]:
        """Hold a concurrency slot and a rate token for the duration of one call."""
        with self._slots:
            self.bucket.acquire()
            with self._lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1
