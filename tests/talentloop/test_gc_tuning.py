"""The service processes freeze what start-up built and collect young objects less often."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from talentloop.service.gc_tuning import YOUNG_THRESHOLD, tune_for_service
import talentloop.service.bridge  # a service's imports: Temporal, pydantic, kafka-python
before = gc.get_threshold()
tune_for_service()
after = gc.get_threshold()
assert gc.get_freeze_count() > 50_000, gc.get_freeze_count()
assert after == (YOUNG_THRESHOLD, before[1], before[2]), (before, after)
# Cycles made after start-up are still collected.
class Node: pass
a, b = Node(), Node(); a.peer, b.peer = b, a
del a, b
assert gc.collect() >= 2
print("ok")
"""


def test_tune_for_service_freezes_start_up_and_raises_the_young_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
