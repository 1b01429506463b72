"""The platform ceiling for bench/e2e.py: a workflow with one no-op activity, and its worker.

Run as a process (`python bench/noop.py worker --target HOST:PORT --task-queue Q`) so that,
like talentloop's own worker, it has a Python interpreter of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="bench.noop")
async def noop(value: str) -> str:
    """Do nothing, return the input."""
    return value


@workflow.defn(name="BenchNoopWorkflow")
class NoopWorkflow:
    """One activity, then done: the least a workflow can do."""

    @workflow.run
    async def run(self, value: str) -> str:
        """Run the no-op activity once."""
        return await workflow.execute_activity(
            noop, value, start_to_close_timeout=timedelta(seconds=30)
        )


async def _serve(target: str, task_queue: str) -> None:
    client = await Client.connect(target)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[NoopWorkflow], activities=[noop]):
        await stop.wait()


def main() -> None:
    """`worker --target HOST:PORT --task-queue Q`: serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--target", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args.target, args.task_queue))


if __name__ == "__main__":
    main()
