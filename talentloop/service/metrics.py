"""Prometheus metrics of the service processes: what each exports, and serving ``/metrics``.

- **bridge**: `BridgeCollector` reads the bridge's `BridgeStats` (and its consumer lag) at each
  scrape, so the bridge's hot path only bumps plain counters; served on
  ``TALENTLOOP_METRICS_BRIDGE_PORT``.
- **worker**: the activities' counters (`activities.metrics`: enrollments, emails, LMS calls
  and errors) on ``TALENTLOOP_METRICS_WORKER_PORT``; with ``worker --processes N`` each process
  takes the first free port from the base (base + 0 … base + N - 1: scrape them all), so no
  multiprocess directory is shared. The Temporal SDK's own metrics (workflow task failures,
  poll and request latencies, ...) come from its runtime's Prometheus exporter on
  ``TALENTLOOP_METRICS_TEMPORAL_PORT`` (base + index in the same way).
- **console**: ``/metrics`` on the console's own port (`CONSOLE_*` below).

Port 0 (the default) turns a server off. Labels are ids, topics, reasons, codes and outcomes:
never names, addresses or ratings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from threading import Thread
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

if TYPE_CHECKING:
    from talentloop.service.bridge.stats import BridgeStats

log = logging.getLogger(__name__)

MAX_PROCESSES = 64
"""How many ports above the base a worker process tries before giving up on metrics."""

CONSOLE_DECISIONS = Counter(
    "talentloop_console_decisions",
    "Approval decisions taken through the console, by path (page, email) and outcome.",
    ["via", "outcome"],
)
CONSOLE_LINK_REFUSALS = Counter(
    "talentloop_console_link_refusals",
    "Approval links refused, by reason (invalid, other-item, expired, used).",
    ["reason"],
)
CONSOLE_REQUESTS = Counter(
    "talentloop_console_requests",
    "Console HTTP requests by method and status code.",
    ["method", "status"],
)

ACTIVITIES = Counter(
    "talentloop_activities",
    "Activity attempts the worker ran, by activity type and outcome (completed, failed).",
    ["activity", "outcome"],
)
ACTIVITY_SECONDS = Histogram(
    "talentloop_activity_seconds", "Duration of activity attempts, by activity type.", ["activity"]
)

BRIDGE_METRICS = (
    "talentloop_bridge_records_consumed_total",
    "talentloop_bridge_dead_letters_total",
    "talentloop_bridge_events_delivered_total",
    "talentloop_bridge_temporal_retries_total",
    "talentloop_bridge_temporal_refused_total",
    "talentloop_bridge_directory_retries_total",
    "talentloop_bridge_internal_errors_total",
    "talentloop_bridge_pauses_total",
    "talentloop_bridge_rebalances_total",
    "talentloop_bridge_in_flight",
    "talentloop_bridge_consumer_lag",
)
"""The series the bridge exports (see `BridgeCollector`)."""

WORKER_METRICS = (
    "talentloop_activities_total",
    "talentloop_activity_seconds_bucket",
    "talentloop_activity_seconds_count",
    "talentloop_activity_seconds_sum",
    "talentloop_enrollments_total",
    "talentloop_emails_total",
    "talentloop_lms_calls_total",
    "talentloop_lms_errors_total",
    "talentloop_lms_call_seconds_bucket",
    "talentloop_lms_call_seconds_count",
    "talentloop_lms_call_seconds_sum",
)
"""The series the worker's activities export (`activities.metrics`)."""

CONSOLE_METRICS = (
    "talentloop_console_decisions_total",
    "talentloop_console_link_refusals_total",
    "talentloop_console_requests_total",
)
"""The series the console exports."""

TEMPORAL_SDK_METRICS = (
    "temporal_request",
    "temporal_request_latency_bucket",
    "temporal_workflow_task_execution_failed",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_workflow_completed",
    "temporal_workflow_failed",
    "temporal_activity_execution_failed",
    "temporal_activity_schedule_to_start_latency_bucket",
)
"""The Temporal SDK's series the dashboard and alerts use (its counters carry no ``_total``)."""

EXPORTED = (*BRIDGE_METRICS, *WORKER_METRICS, *CONSOLE_METRICS, *TEMPORAL_SDK_METRICS)
"""Every series name the dashboard and the alerting rules may use."""


class BridgeView(Protocol):
    """What the collector reads of a running bridge."""

    stats: BridgeStats

    @property
    def in_flight(self) -> int:
        """Records handed out and not yet handled."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind on each held partition, by (topic, partition)."""


class BridgeCollector(Collector):
    """The bridge's counters and consumer lag, read at scrape time.

    Args:
        bridge: The running bridge (`talentloop.service.bridge.Bridge`).
    """

    def __init__(self, bridge: BridgeView) -> None:
        self._bridge = bridge

    def collect(self) -> Iterable[Metric]:
        """The bridge's series, as they are now."""
        st = self._bridge.stats
        consumed = CounterMetricFamily(
            "talentloop_bridge_records_consumed", "Records polled, by topic.", labels=["topic"]
        )
        for topic, n in sorted(st.consumed_by_topic.items()):
            consumed.add_metric([topic], n)
        yield consumed
        dead = CounterMetricFamily(
            "talentloop_bridge_dead_letters",
            "Records dead-lettered, by source topic and reason.",
            labels=["topic", "reason"],
        )
        for (topic, reason), n in sorted(st.dead_lettered_by.items()):
            dead.add_metric([topic, reason], n)
        yield dead
        for name, value, doc in (
            ("events_delivered", st.signalled, "Events Temporal accepted (signal/start)."),
            ("temporal_retries", st.temporal_retries, "Temporal calls retried (transient)."),
            ("temporal_refused", st.temporal_refused, "Events Temporal refused for good."),
            ("directory_retries", st.directory_retries, "Directory checks retried."),
            ("internal_errors", st.internal_errors, "Records dead-lettered as internal-error."),
            ("pauses", st.pauses, "Times consumption paused for the Temporal backlog."),
            ("rebalances", st.rebalances, "Partition revocations."),
        ):
            yield CounterMetricFamily(f"talentloop_bridge_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "talentloop_bridge_in_flight",
            "Records handed out and not yet accepted by Temporal or dead-lettered.",
            value=self._bridge.in_flight,
        )
        lag = GaugeMetricFamily(
            "talentloop_bridge_consumer_lag",
            "Records behind per held partition: the last fetched high watermark less the "
            "first record not yet handled.",
            labels=["topic", "partition"],
        )
        try:
            behind = self._bridge.lag()
        except Exception as err:  # a scrape must not fail on a rebalance in progress
            log.debug("consumer lag unavailable: %s", type(err).__name__)
            behind = {}
        for (topic, partition), n in sorted(behind.items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag


class ActivityMetrics(Interceptor):
    """Worker interceptor counting every activity attempt by type and outcome, and timing it.

    Covers the activities that count nothing themselves (rollout batches, directory,
    planning, outbound events); a stalled rollout shows as health checks without batches.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap the activity's execution."""
        return _CountedActivity(next)


class _CountedActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from temporalio import activity

        name = activity.info().activity_type
        with ACTIVITY_SECONDS.labels(name).time():
            try:
                result = await super().execute_activity(input)
            except BaseException:
                ACTIVITIES.labels(name, "failed").inc()
                raise
        ACTIVITIES.labels(name, "completed").inc()
        return result


class _Default(Collector):
    """The process-wide default registry (the activities' counters, process, platform)."""

    def collect(self) -> Iterator[Metric]:
        """Everything the default registry holds."""
        yield from REGISTRY.collect()


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP server."""

    port: int
    server: WSGIServer
    thread: Thread

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def serve(
    port: int,
    *collectors: Collector,
    host: str = "0.0.0.0",
    tries: int = 1,
) -> MetricsServer | None:
    """Serve the default registry plus `collectors` on `port` (or the next free of `tries`).

    Args:
        port: The (base) port; 0 serves nothing.
        collectors: Extra collectors (e.g. `BridgeCollector`).
        host: Listen address.
        tries: Ports to try from `port` up (worker processes share a base port).

    Returns:
        The server, or None when off or no port was free (logged; metrics never stop work).
    """
    if port == 0:
        return None
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Default())
    for c in collectors:
        registry.register(c)
    for candidate in range(port, port + tries):
        try:
            server, thread = start_http_server(candidate, addr=host, registry=registry)
        except OSError:
            continue
        log.info("metrics at http://%s:%d/metrics", host, candidate)
        return MetricsServer(candidate, server, thread)
    log.warning("no free metrics port in %d..%d: metrics are off", port, port + tries - 1)
    return None


def install_temporal_metrics(port: int, host: str = "0.0.0.0", tries: int = 1) -> int | None:
    """Make the Temporal SDK export its metrics on `port` (or the next free of `tries`).

    Sets the default runtime (before any client connects), so every client and worker of the
    process reports through its Prometheus exporter. Returns the port, or None when off.
    """
    if port == 0:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    for candidate in range(port, port + tries):
        try:
            runtime = Runtime(
                telemetry=TelemetryConfig(
                    metrics=PrometheusConfig(bind_address=f"{host}:{candidate}")
                )
            )
        except ValueError:  # the port is taken
            continue
        Runtime.set_default(runtime, error_if_already_set=False)
        log.info("temporal SDK metrics at http://%s:%d/metrics", host, candidate)
        return candidate
    log.warning("no free Temporal metrics port in %d..%d", port, port + tries - 1)
    return None


def exported_names(text: str) -> set[str]:
    """The metric names in a Prometheus text exposition (sample names, suffixes included)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names
