"""CPU seconds per process over a measured interval, read from /proc (Linux)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@dataclass
class CpuMeter:
    """CPU seconds of this process ("bench") and of the named processes over one interval."""

    pids: dict[str, int]
    start: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        now = {"bench": time.process_time()}
        now.update({name: cpu_seconds(pid) for name, pid in self.pids.items()})
        return now

    def begin(self) -> None:
        """Start the interval."""
        self.start = self._now()

    def end(self) -> dict[str, float]:
        """CPU seconds per process since `begin`."""
        return {k: round(v - self.start.get(k, 0.0), 2) for k, v in self._now().items()}
