"""Metrics on the real stack: the bridge's and the worker's series move as events flow."""

from __future__ import annotations

import asyncio
from functools import partial

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker
from support.delivery import wait_handled
from support.events import role_review_event
from temporalio.client import Client

from talentloop.dev.teststack import free_ports
from talentloop.service import metrics
from talentloop.service.bridge import Bridge
from talentloop.service.config import Settings
from talentloop.service.kafka import make_producer
from talentloop.service.publishing import publish_events

pytestmark = pytest.mark.integration

review_event = partial(role_review_event, skills=5)


def series(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


async def test_bridge_and_worker_series_move_when_events_flow(
    settings: Settings, sessions: sessionmaker[Session], client: Client, bridge: Bridge
) -> None:
    (port,) = free_ports(1)
    server = metrics.serve(port, metrics.BridgeCollector(bridge), host="127.0.0.1")
    assert server is not None
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        before = series(httpx.get(url).text)
        activities_before = REGISTRY.get_sample_value(
            "talentloop_activities_total", {"activity": "mail.send_notice", "outcome": "completed"}
        )
        producer = make_producer(settings)
        producer.send(settings.topic_reviews, key=b"E00007", value=b"{not json").get(30)
        producer.close()
        await asyncio.to_thread(
            publish_events, settings, [review_event(sessions, "E00007", "ev-metrics-1")]
        )
        await wait_handled(client, "E00007", "ev-metrics-1")
        text = httpx.get(url).text
        after = series(text)

        def moved(name: str) -> float:
            return after.get(name, 0.0) - before.get(name, 0.0)

        reviews = settings.topic_reviews
        assert moved(f'talentloop_bridge_records_consumed_total{{topic="{reviews}"}}') >= 2
        assert (
            moved(f'talentloop_bridge_dead_letters_total{{reason="not-json",topic="{reviews}"}}')
            == 1
        )
        assert moved("talentloop_bridge_events_delivered_total") >= 1
        assert any(k.startswith("talentloop_bridge_consumer_lag{") for k in after), text
        # The worker runs in this process: its activities' series are served here too.
        calls = sum(v for k, v in after.items() if k.startswith("talentloop_lms_calls_total{"))
        calls_before = sum(
            v for k, v in before.items() if k.startswith("talentloop_lms_calls_total{")
        )
        assert calls > calls_before
        assert moved('talentloop_enrollments_total{outcome="enrolled"}') >= 1

        async def mailed() -> bool:
            value = REGISTRY.get_sample_value(
                "talentloop_activities_total",
                {"activity": "mail.send_notice", "outcome": "completed"},
            )
            return (value or 0.0) > (activities_before or 0.0)

        for _ in range(100):
            if await mailed():
                break
            await asyncio.sleep(0.2)
        assert await mailed(), "the worker's interceptor counted the email activity"
    finally:
        server.close()
