"""Connecting to Temporal with the pydantic data converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from talentloop.service.config import Settings


async def connect(settings: Settings) -> Client:
    """Connect a Temporal client to the configured frontend and namespace."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register our search attributes on a server started without them (test server, a cluster)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from workflows.search_attributes import ALL

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: int(key.indexed_value_type)  # type: ignore[misc]
                for key in ALL
            },
        )
    )
