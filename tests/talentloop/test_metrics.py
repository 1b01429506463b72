"""Prometheus metrics: the documented series exist, move when events flow, and the Grafana
dashboard and alerting rules use only what the code exports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from support.temporal import time_skipping_server
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.lms.activities import LmsActivities
from activities.lms.port import LmsError, LmsPort
from activities.mail.activities import MailActivities
from activities.mail.render import MailRenderer
from activities.mail.smtp import SmtpSender
from activities.store.engine import open_engine, session_factory
from schemas.learning import Employee as Emp
from schemas.learning import (
    EnrolledCourse,
    Enrollment,
    EnrollRequest,
    NoticeRequest,
    Recipient,
)
from schemas.lms import BulkEnrollRequest, EnrollOutcome
from talentloop.dev.teststack import free_ports
from talentloop.service import metrics
from talentloop.service.bridge.stats import BridgeStats

ROOT = Path(__file__).resolve().parents[2]


def scrape(port: int) -> tuple[str, dict[str, float]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return text, values


class FakeLms:
    """An LMS that enrolls every course but ``gone`` (an unknown course: permanent)."""

    def enroll(self, req: EnrollRequest) -> Enrollment:
        if req.course_id == "gone":
            raise LmsError("no such course", retryable=False, code="unknown_course")
        return Enrollment(
            enrollment_id=f"{req.employee_id}-{req.course_id}",
            employee_id=req.employee_id,
            course_id=req.course_id,
            status="enrolled",
            due=req.due,
            reason=req.reason,
            source_event=req.source_event,
            created_at=datetime.now(UTC),
        )

    def enroll_many(self, reqs: Sequence[EnrollRequest]) -> list[EnrollOutcome]:
        out = []
        for r in reqs:
            try:
                out.append(
                    EnrollOutcome(
                        employee_id=r.employee_id, course_id=r.course_id, enrollment=self.enroll(r)
                    )
                )
            except LmsError as err:
                out.append(
                    EnrollOutcome(
                        employee_id=r.employee_id, course_id=r.course_id, error=err.failure()
                    )
                )
        return out


@dataclass
class FakeSmtp:
    """Accepts every message (the real sender is tested against the SMTP sink elsewhere)."""

    sent: list[str] = field(default_factory=list)

    async def send(self, msg: object) -> None:
        self.sent.append(str(msg))

    async def close(self) -> None:
        return None


def enroll(course: str) -> EnrollRequest:
    return EnrollRequest(
        employee_id="E00001", course_id=course, due=None, reason="r", source_event="ev"
    )


def notice(key: str, email: str | None = "m@example.com") -> NoticeRequest:
    return NoticeRequest(
        dedupe_key=key,
        template="enrollment",
        to=Recipient(id="E00001", name="P", email=email),
        employee=Emp(id="E00001", name="P", email="p@example.com", role_id="r", role_title="R"),
        courses=[EnrolledCourse(course_id="c1", title="C", hours=4, due=None, reason="r")],
    )


async def test_worker_series_move_when_enrollments_emails_and_lms_calls_happen(
    tmp_path: Path,
) -> None:
    base, _ = free_ports(2)
    first = metrics.serve(base, host="127.0.0.1", tries=2)
    second = metrics.serve(base, host="127.0.0.1", tries=2)  # another worker process
    assert first is not None and second is not None
    try:
        assert (first.port, second.port) == (base, base + 1)
        _, before = scrape(first.port)
        lms = LmsActivities(cast(LmsPort, FakeLms()))
        lms.enroll(enroll("c1"))
        with pytest.raises(ApplicationError):
            lms.enroll(enroll("gone"))
        lms.enroll_many(BulkEnrollRequest(requests=[enroll("c2"), enroll("gone")]))
        sessions = session_factory(open_engine(f"sqlite:///{tmp_path / 'app.db'}"))
        mail = MailActivities(
            sessions, cast(SmtpSender, FakeSmtp()), MailRenderer(), "t@example.com"
        )
        key = f"E00001:enrollment:{uuid.uuid4().hex}"
        await mail.send_notice(notice(key))
        await mail.send_notice(notice(key))  # a retry: the outbox says it went out
        with pytest.raises(ApplicationError):
            await mail.send_notice(notice(key + "x", email=None))
        text, after = scrape(second.port)  # both ports serve the process's series
        exported = metrics.exported_names(text)
        # (talentloop_activit* come from the worker's interceptor: the SDK test below.)
        assert {n for n in metrics.WORKER_METRICS if "_activit" not in n} <= exported

        def moved(series: str) -> float:
            return after.get(series, 0.0) - before.get(series, 0.0)

        assert moved('talentloop_enrollments_total{outcome="enrolled"}') == 2
        assert moved('talentloop_enrollments_total{outcome="error"}') == 2
        assert moved('talentloop_lms_calls_total{operation="enroll"}') == 2
        assert moved('talentloop_lms_errors_total{code="unknown_course",operation="enroll"}') == 1
        assert (
            moved('talentloop_lms_errors_total{code="unknown_course",operation="enroll_many"}') == 1
        )
        assert moved('talentloop_emails_total{outcome="sent",template="enrollment"}') == 1
        assert moved('talentloop_emails_total{outcome="duplicate",template="enrollment"}') == 1
        assert moved('talentloop_emails_total{outcome="failed",template="enrollment"}') == 1
        assert "p@example.com" not in text and "m@example.com" not in text
    finally:
        first.close()
        second.close()


@dataclass
class FakeBridge:
    """What the collector reads of a bridge: its real `BridgeStats`, in-flight count, lag."""

    stats: BridgeStats = field(default_factory=BridgeStats)
    behind: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        return 3

    def lag(self) -> dict[tuple[str, int], int]:
        return self.behind


def test_bridge_series_read_the_bridge_stats_at_each_scrape() -> None:
    (port,) = free_ports(1)
    bridge = FakeBridge()
    server = metrics.serve(port, metrics.BridgeCollector(bridge), host="127.0.0.1")
    assert server is not None
    try:
        text, _ = scrape(port)
        # Counter families without samples are still declared.
        for name in metrics.BRIDGE_METRICS:
            assert f"# TYPE {name} " in text, name
        # What the bridge's code paths do as records flow (consumer, delivery, dead letters).
        bridge.stats.consumed_by_topic.update({"hr.reviews": 5, "hr.goals": 1})
        bridge.stats.signalled += 4
        bridge.stats.temporal_retries += 2
        bridge.stats.dead_lettered_by[("hr.reviews", "schema-invalid")] += 1
        bridge.stats.dead_lettered_by[("hr.goals", "not-json")] += 1
        bridge.behind[("hr.reviews", 0)] = 7
        text, values = scrape(port)
        assert set(metrics.BRIDGE_METRICS) <= metrics.exported_names(text)
        assert values['talentloop_bridge_records_consumed_total{topic="hr.reviews"}'] == 5
        assert (
            values[
                'talentloop_bridge_dead_letters_total{reason="schema-invalid",topic="hr.reviews"}'
            ]
            == 1
        )
        assert values["talentloop_bridge_events_delivered_total"] == 4
        assert values["talentloop_bridge_temporal_retries_total"] == 2
        assert values['talentloop_bridge_consumer_lag{partition="0",topic="hr.reviews"}'] == 7
        assert values["talentloop_bridge_in_flight"] == 3
    finally:
        server.close()


def test_ports_default_to_off() -> None:
    assert metrics.serve(0) is None and metrics.install_temporal_metrics(0) is None
    from talentloop.service.config import Settings

    s = Settings()
    assert (s.metrics_bridge_port, s.metrics_worker_port, s.metrics_temporal_port) == (0, 0, 0)


@activity.defn(name="metrics.fail")
async def failing_activity() -> None:
    raise ApplicationError("bad input", non_retryable=True)


@workflow.defn(name="MetricsBroken")
class Broken:
    """Fails its workflow task (a bug): Temporal retries the task, the SDK counts it."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")


@workflow.defn(name="MetricsActivityFails")
class ActivityFails:
    """Runs an activity that fails for good, so the workflow fails."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            failing_activity,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn(name="MetricsFine")
class Fine:
    """Completes."""

    @workflow.run
    async def run(self) -> str:
        return "ok"


async def test_temporal_sdk_series_used_by_the_dashboard_exist() -> None:
    failed = {"activity": "metrics.fail", "outcome": "failed"}
    before = REGISTRY.get_sample_value("talentloop_activities_total", failed) or 0.0
    prom, server_port = free_ports(2)
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{prom}"))
    )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=time_skipping_server(), port=server_port, runtime=runtime
    )
    try:
        async with Worker(
            env.client,
            task_queue="metrics",
            workflows=[Broken, ActivityFails, Fine],
            activities=[failing_activity],
            workflow_runner=UnsandboxedWorkflowRunner(),
            interceptors=[metrics.ActivityMetrics()],
        ):
            assert await env.client.execute_workflow(Fine.run, id="fine", task_queue="metrics")
            with pytest.raises(WorkflowFailureError):
                await env.client.execute_workflow(
                    ActivityFails.run, id="fails", task_queue="metrics"
                )
            await env.client.start_workflow(Broken.run, id="broken", task_queue="metrics")
            for _ in range(100):
                text = httpx.get(f"http://127.0.0.1:{prom}/metrics", timeout=5).text
                if "temporal_workflow_task_execution_failed" in text:
                    break
                await asyncio.sleep(0.1)
        missing = set(metrics.TEMPORAL_SDK_METRICS) - metrics.exported_names(text)
        assert not missing, missing
        # The worker's interceptor counted the failed attempt.
        assert REGISTRY.get_sample_value("talentloop_activities_total", failed) == before + 1
        ours = metrics.exported_names(generate_latest(REGISTRY).decode())
        assert set(metrics.WORKER_METRICS) <= ours
    finally:
        await env.shutdown()


def dashboard_names() -> set[str]:
    board = json.loads((ROOT / "deploy/grafana/talentloop.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    return {n for e in exprs for n in re.findall(r"\b((?:talentloop|temporal)_[a-z0-9_]+)", e)}


def test_dashboard_uses_only_exported_series() -> None:
    names = dashboard_names()
    assert names <= set(metrics.EXPORTED), names - set(metrics.EXPORTED)
    # It shows each process: the bridge, the worker's activities, the console, the SDK.
    prefixes = Counter(n.split("_")[1] for n in names)
    assert {"bridge", "enrollments", "emails", "lms", "console"} <= set(prefixes)


RULES = ROOT / "deploy/prometheus/talentloop-alerts.yml"


def test_alerting_rules_cover_the_issue_and_use_exported_series() -> None:
    doc = yaml.safe_load(RULES.read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    assert {
        "TalentloopConsumerLagHigh",
        "TalentloopDeadLetterRate",
        "TalentloopWorkflowTaskFailures",
        "TalentloopLmsErrorRate",
        "TalentloopRolloutStalled",
    } <= alerts
    for r in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(r), r
        assert r["labels"]["severity"] in {"warning", "critical"}
        used = set(re.findall(r"\b((?:talentloop|temporal)_[a-z0-9_]+)", str(r["expr"])))
        assert used and used <= set(metrics.EXPORTED), (r["alert"], used)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus)")
def test_alerting_rules_pass_promtool_and_its_unit_tests() -> None:
    for args in (["check", "rules", RULES.name], ["test", "rules", "talentloop-alerts.test.yml"]):
        done = subprocess.run(
            ["promtool", *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent
        )
        assert done.returncode == 0, done.stdout + done.stderr
