"""A workflow that reads the wall clock: what the sandbox must refuse (test_sandbox.py)."""

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ReadsTheClock")
class ReadsTheClock:
    """Returns the wall-clock time: not deterministic on replay."""

    @workflow.run
    async def run(self) -> str:
        """Read the clock the way workflow code must not."""
        return datetime.now().isoformat()
