"""The root `talentloop` command and what every command group shares.

Settings, logging, and running a service until a signal.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import typer

from talentloop.service.config import Settings

app = typer.Typer(
    help="talentloop: reviews and strategy changes in, skill gaps closed by training, once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def load_settings() -> Settings:
    """The settings from the environment and `.env` (a bad one raises ValidationError)."""
    return Settings()


def configure_logging(verbose: bool) -> None:
    """Log to stderr: INFO (DEBUG with --verbose); the libraries' chatter at WARNING and up."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for noisy in ("temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_until_signal(make: Any) -> None:
    """Run `make(stop)` until SIGTERM or Ctrl-C sets `stop`."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await make(stop)

    asyncio.run(serve())


from talentloop.cli import gaps as _gaps  # noqa: E402  (registers `talentloop gaps`)

__all__ = ["_gaps", "app", "configure_logging", "load_settings", "run_until_signal"]
