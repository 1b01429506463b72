"""Connecting to Temporal with the pydantic data converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from talentloop.config import Settings


async def connect(settings: Settings) -> Client:
    """Connect a Temporal client to the configured frontend and namespace."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
