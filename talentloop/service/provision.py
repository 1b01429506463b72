"""`talentloop setup`: everything a deployment needs before its processes start, idempotently.

One step per component, each safe to repeat: the database migrated to head, the Kafka topics
with the configured partitions, the namespace's custom search attributes, and every Temporal
Schedule the product uses (`talentloop.service.schedules`). A deployment runs it once per
release (an init job); `talentloop dev up` and `talentloop demo` run it on the embedded stack.
Workers never create any of these.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from activities.store.engine import open_engine
from activities.store.migrate import current_revisions
from talentloop.errors import SetupError
from talentloop.service.config import Settings
from talentloop.service.kafka import ensure_topics
from talentloop.service.schedules import ensure_schedules
from talentloop.service.temporal import connect
from workflows import search_attributes


@dataclass(frozen=True)
class SetupStep:
    """What one step of the setup did.

    Attributes:
        component: ``database``, ``kafka``, ``temporal`` or ``schedules``.
        detail: One line: what was created, updated or already there.

    """

    component: str
    detail: str


def migrate_database(settings: Settings) -> SetupStep:
    """Migrate the application database to the newest revision."""
    try:
        engine = open_engine(settings.db_url)
        try:
            with engine.connect() as conn:
                revision = ", ".join(sorted(current_revisions(conn)))
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SetupError(f"database: {type(exc).__name__}: {first}") from exc
    return SetupStep("database", f"migrated to head (revision {revision})")


def create_topics(settings: Settings) -> SetupStep:
    """Create the missing topics; an existing topic with another partition count is refused."""
    try:
        report = ensure_topics(settings)
    except Exception as exc:
        raise SetupError(f"kafka {settings.kafka_servers}: {type(exc).__name__}: {exc}") from exc
    wrong = report.mismatched(settings.topic_partitions)
    if wrong:
        listed = ", ".join(f"{name} has {n}" for name, n in sorted(wrong.items()))
        raise SetupError(
            f"kafka: {listed} partitions, configured {settings.topic_partitions} "
            "(set TALENTLOOP_TOPIC_PARTITIONS to match, or recreate the topic)"
        )
    created = ", ".join(report.created) if report.created else "none"
    return SetupStep(
        "kafka",
        f"{len(report.partitions)} topics with {settings.topic_partitions} partitions "
        f"(created: {created})",
    )


async def register_search_attributes(client: Client, settings: Settings) -> SetupStep:
    """Register the custom search attributes the workflows keep current; refuse a clash."""
    namespace = settings.temporal_namespace
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = dict(listed.custom_attributes)
    clash = [
        f"{key.name} (wanted {key.indexed_value_type.name})"
        for key in search_attributes.ALL
        if key.name in have and have[key.name] != int(key.indexed_value_type)
    ]
    if clash:
        raise SetupError(f"temporal: search attributes of another type: {'; '.join(clash)}")
    missing = {
        key.name: int(key.indexed_value_type)
        for key in search_attributes.ALL
        if key.name not in have
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes=missing,  # type: ignore[arg-type]
            )
        )
    added = ", ".join(missing) if missing else "none"
    return SetupStep(
        "temporal",
        f"{len(search_attributes.ALL)} search attributes in namespace {namespace} (added: {added})",
    )


async def create_schedules(client: Client, settings: Settings) -> SetupStep:
    """Create or update every product Schedule."""
    done = await ensure_schedules(client, settings)
    listed = ", ".join(f"{sid} {'created' if new else 'updated'}" for sid, new in done.items())
    return SetupStep("schedules", listed)


async def run_setup(settings: Settings, client: Client | None = None) -> list[SetupStep]:
    """Run every setup step in order; a failing step raises `SetupError` naming its component.

    Args:
        settings: The deployment to set up.
        client: A connected Temporal client; one is connected when None.

    Returns:
        One line per step, in order.

    """
    steps = [
        await asyncio.to_thread(migrate_database, settings),
        await asyncio.to_thread(create_topics, settings),
    ]
    if client is None:
        try:
            client = await connect(settings)
        except Exception as exc:
            raise SetupError(f"temporal {settings.temporal_target}: {exc}") from exc
    steps.append(await register_search_attributes(client, settings))
    steps.append(await create_schedules(client, settings))
    return steps
