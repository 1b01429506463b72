"""A command whose server is down ends in one line and exit code 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from talentloop.dev.teststack import free_ports


def test_plan_with_temporal_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens there
    env = {
        **os.environ,
        "TALENTLOOP_TEMPORAL_PORT": str(port),
        "TALENTLOOP_STATE_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "talentloop.cli", "plan", "E00001"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("talentloop: Temporal unreachable:"), lines
    assert "Traceback" not in done.stderr
