"""Bridge throughput: is the Kafka -> Temporal bridge ever the bottleneck?

One run starts a private embedded stack (Temporal dev server, Tansu, SMTP sink) on free ports
in a temporary directory, publishes the same shape of events in advance to fresh topics, and
measures three rates:

1. ``kafka consume``: kafka-python alone, the bridge's consumer settings, reading the N
   records (ceiling 1);
2. ``signal-with-start``: Temporal alone, one asyncio client delivering N pre-validated events
   by signal-with-start with the bridge's own start input (``Settings.employee_workflow_input``),
   per-employee in order, with bounded concurrency (each value of ``--concurrency`` is tried;
   the best is ceiling 2);
3. ``bridge``: `talentloop.service.bridge.Bridge` end to end: consume, validate, signal-with-start,
   commit, until the group's committed offsets cover all N records.

Both (2) and (3) run in this process, with the collector tuned as in ``talentloop bridge``
(`talentloop.service.gc_tuning`). (3)'s CPU is counted from the group assignment, like its rate.

Every stage creates new workflows for new employees (no worker runs: the server accepts
signal-with-start without one), reads its own fresh topics with a fresh consumer group, and
measures its rate from the moment the group assignment completed (the consumer-group join,
3-5 s on Tansu, is reported separately).

Stages (2) and (3) run in ``--rounds`` rounds of alternating order ((2) first, then (3)
first, ...), because the dev server slows down as open workflows pile up. Each round compares
the bridge with the best (2) of the same round; the verdict uses the geometric mean of the
rounds. The target: (3) >= 90 % of min((1), (2)). CPU per event of this process and of the
servers is printed too: unlike rates, it hardly suffers from other load on the machine.

Usage:
    python bench/bridge.py [--events N] [--employees M] [--partitions P]
        [--kind review|moved] [--concurrency 200,500] [--rounds R]
        [--bridge-option NAME=VALUE ...] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import CpuMeter
from schemas.events import EMPLOYEE_UPDATED, EVENT_TYPES, REVIEW_COMPLETED, InboundEvent
from talentloop.dev.devstack import DevStack
from talentloop.dev.teststack import lane, private_settings
from talentloop.service.bridge import Bridge
from talentloop.service.cloudevents import decode
from talentloop.service.config import Settings
from talentloop.service.gc_tuning import tune_for_service
from talentloop.service.kafka import make_consumer, make_producer, topic_for_type
from talentloop.service.temporal import connect
from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

TARGET = 0.90
"""The bridge must reach this share of the slower of its two ceilings."""


# -- events ----------------------------------------------------------------------------------


def make_events(kind: str, count: int, employees: int, prefix: str) -> list[dict[str, Any]]:
    """`count` valid inbound CloudEvents spread round-robin over `employees` employee ids.

    Args:
        kind: "review" (`review.completed.v1`) or "moved" (`employee.updated.v1`, a move).
        count: How many events.
        employees: Over how many employee ids.
        prefix: Prefix of the employee ids and event ids, unique per stage.
    """
    event_type = REVIEW_COMPLETED if kind == "review" else EMPLOYEE_UPDATED
    template = EVENT_TYPES[event_type].example_event()
    now = datetime.now(UTC).isoformat()
    skills = ["onet:2.A.1.a", "onet:2.A.2.a", "onet:2.B.3.e", "onet:2.B.4.g", "onet:2.B.1.a"]
    events = []
    for i in range(count):
        employee = f"{prefix}-E{i % employees:05d}"
        if kind == "review":
            data: dict[str, Any] = {
                **template["data"],
                "review_id": f"{prefix}-r{i:06d}",
                "employee_id": employee,
                "completed_at": now,
                "ratings": [
                    {"skill_id": s, "rating": 1 + (i + j) % 5} for j, s in enumerate(skills)
                ],
            }
        else:
            data = {"employee_id": employee, "change": "moved", "department": f"D{i % 37}"}
        events.append(
            {**template, "id": f"{prefix}-{i}", "subject": employee, "time": now, "data": data}
        )
    return events


def publish(settings: Settings, events: list[dict[str, Any]]) -> dict[TopicPartition, int]:
    """Publish keyed by employee id; return, per partition written, one past its last offset.

    The produce acknowledgements' offsets are used: Tansu's high watermark is wrong after a
    batch of several records.
    """
    producer = make_producer(settings)
    try:
        futures = []
        for ev in events:
            topic = topic_for_type(settings, ev["type"])
            assert topic is not None
            key = ev["data"]["employee_id"].encode()
            futures.append(producer.send(topic, key=key, value=json.dumps(ev).encode()))
        producer.flush(timeout=60)
        ends: dict[TopicPartition, int] = {}
        for f in futures:
            md = f.get(timeout=30)
            tp = TopicPartition(md.topic, md.partition)
            ends[tp] = max(ends.get(tp, 0), md.offset + 1)
    finally:
        producer.close(timeout=10)
    if sum(ends.values()) != len(events):
        raise RuntimeError(f"published {len(events)} records but offsets say {ends}")
    return ends


def validated(settings: Settings, events: list[dict[str, Any]]) -> list[InboundEvent]:
    """The events as the bridge hands them to Temporal (decoded and validated beforehand)."""
    out = []
    for ev in events:
        decoded = decode(
            json.dumps(ev).encode(),
            [],
            topic=settings.topic_reviews,
            partition=0,
            offset=0,
            max_bytes=settings.max_event_bytes,
        )
        assert isinstance(decoded, InboundEvent)
        out.append(decoded)
    return out


# -- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One measured stage."""

    stage: str
    events: int
    seconds: float
    """From the group assignment (or the first call) to the last record / commit."""
    rate: float
    join_seconds: float | None = None
    """From creating the consumer to the group assignment."""
    wall_seconds: float | None = None
    """Everything, including the group join."""
    cpu: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def timed(stage: str, events: int, seconds: float, **kw: Any) -> Result:
    """A result with its rate."""
    return Result(stage, events, round(seconds, 3), round(events / seconds, 1), **kw)


# -- (1) raw consume -------------------------------------------------------------------------


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.at: float | None = None

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned and self.at is None:
            self.at = time.monotonic()


def consume_raw(settings: Settings, ends: dict[TopicPartition, int], meter: CpuMeter) -> Result:
    """Read every published record with the bridge's consumer settings and poll sizes."""
    expected = sum(ends.values())
    meter.begin()
    started = time.monotonic()
    consumer = make_consumer(settings)
    listener = _Assigned()
    consumer.subscribe(settings.inbound_topics, listener=listener)
    seen = 0
    first: float | None = None
    last_offsets: dict[TopicPartition, int] = {}
    try:
        deadline = started + 120
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer read {seen} of {expected} records")
            batch = consumer.poll(timeout_ms=100, max_records=500)
            for tp, records in batch.items():
                if records and first is None:
                    first = time.monotonic()
                seen += len(records)
                last_offsets[tp] = records[-1].offset
        done = time.monotonic()
        cpu = meter.end()
    finally:
        consumer.close()
    assert listener.at is not None and first is not None
    if any(last_offsets.get(tp, -1) + 1 != end for tp, end in ends.items()):
        raise RuntimeError(f"raw consumer ended at {last_offsets}, expected {ends}")
    return timed(
        "(1) kafka consume (raw)",
        seen,
        done - listener.at,
        join_seconds=round(listener.at - started, 3),
        wall_seconds=round(done - started, 3),
        cpu=cpu,
        extra={"assigned_to_first_record_s": round(first - listener.at, 3)},
    )


# -- (2) Temporal signal-with-start ----------------------------------------------------------


async def signal_with_start(
    client: Client,
    settings: Settings,
    events: list[InboundEvent],
    concurrency: int,
    meter: CpuMeter,
) -> Result:
    """Signal-with-start every event, in order per employee, at most `concurrency` at once."""
    by_employee: dict[str, list[InboundEvent]] = {}
    for ev in events:
        by_employee.setdefault(ev.employee_id, []).append(ev)
    # The bridge's start input (policy, LMS settings), built beforehand like the events.
    inputs = {emp: settings.employee_workflow_input(emp) for emp in by_employee}
    gate = asyncio.Semaphore(concurrency)

    async def deliver(employee_id: str, evs: list[InboundEvent]) -> None:
        for ev in evs:
            async with gate:
                await client.start_workflow(
                    EmployeeLearningWorkflow.run,
                    inputs[employee_id],
                    id=workflow_id_for(employee_id),
                    task_queue=settings.task_queue,
                    start_signal="event",
                    start_signal_args=[ev],
                )

    meter.begin()
    started = time.monotonic()
    await asyncio.gather(*(deliver(emp, evs) for emp, evs in by_employee.items()))
    done = time.monotonic()
    return timed(
        f"(2) signal-with-start c={concurrency}",
        len(events),
        done - started,
        cpu=meter.end(),
        extra={"concurrency": concurrency, "workflows": len(by_employee)},
    )


# -- (3) the bridge --------------------------------------------------------------------------


def committed_offsets(settings: Settings, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The group's committed offsets, asked of the broker by a member that never joins."""
    consumer = make_consumer(settings)
    try:
        return {tp: consumer.committed(tp) or 0 for tp in tps}
    finally:
        consumer.close()


async def run_bridge(
    client: Client,
    settings: Settings,
    ends: dict[TopicPartition, int],
    meter: CpuMeter,
    bridge_options: dict[str, Any],
) -> Result:
    """Run a bridge until its committed offsets cover every published record; then stop it."""
    expected = sum(ends.values())
    bridge = Bridge(settings, client, known_employee=None, **bridge_options)
    # Its offset bookkeeping: committed offsets without a round trip.
    trackers = bridge.partitions.trackers

    def all_committed() -> bool:
        return all(
            (t := trackers.get(tp)) is not None and t._committed == end for tp, end in ends.items()
        )

    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.wait_for(bridge.assigned.wait(), timeout=60)
        # CPU is measured over the same interval as the rate: from the assignment on.
        meter.begin()
        assigned = time.monotonic()
        first = signalled = None
        deadline = assigned + 300
        while not all_committed():
            if task.done():
                task.result()
                raise RuntimeError("the bridge stopped early")
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"bridge stuck: {bridge.stats}")
            if first is None and bridge.stats.consumed:
                first = now
            if signalled is None and bridge.stats.signalled >= expected:
                signalled = now
            await asyncio.sleep(0.005)
        done = time.monotonic()
        cpu = meter.end()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
    stopped = time.monotonic()
    committed = await asyncio.to_thread(committed_offsets, settings, list(ends))
    if committed != ends:
        raise RuntimeError(f"committed {committed}, expected {ends}")
    stats = asdict(bridge.stats)
    if stats["signalled"] != expected or stats["consumed"] != expected:
        raise RuntimeError(f"bridge stats {stats} for {expected} records")
    signalled = signalled or done
    first = first or assigned
    return timed(
        "(3) bridge end-to-end",
        expected,
        done - assigned,
        join_seconds=round(assigned - started, 3),
        wall_seconds=round(done - started, 3),
        cpu=cpu,
        extra={
            "assigned_to_first_record_s": round(first - assigned, 3),
            "to_last_signal_s": round(signalled - assigned, 3),
            "last_signal_to_last_commit_s": round(done - signalled, 3),
            "stop_s": round(stopped - done, 3),
            "options": bridge_options,
            "stats": stats,
        },
    )


# -- main ------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_stack(partitions: int, keep: bool) -> Iterator[tuple[Settings, DevStack]]:
    """A dev stack of its own on free ports in a temporary directory, always stopped."""
    state = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    settings = private_settings(state, topic_partitions=partitions)
    stack = DevStack(settings)
    try:
        stack.up()
        yield settings, stack
    finally:
        stack.down()
        if not keep:
            import shutil

            shutil.rmtree(state, ignore_errors=True)


def render(results: list[Result], bridge: Result, ceiling: Result) -> str:
    """The table the benchmark prints."""
    rows = [("stage", "events", "seconds", "events/s", "join s", "wall s", "cpu ms/event")]
    rows.append(("", "", "", "", "", "", "bench/temporal/kafka"))
    for r in results:
        cpu = "/".join(
            f"{r.cpu.get(k, 0) * 1000 / r.events:.2f}" for k in ("bench", "temporal", "kafka")
        )
        rows.append(
            (
                r.stage,
                str(r.events),
                f"{r.seconds:.2f}",
                f"{r.rate:.0f}",
                "-" if r.join_seconds is None else f"{r.join_seconds:.2f}",
                "-" if r.wall_seconds is None else f"{r.wall_seconds:.2f}",
                cpu,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.append(
        f"best (3)/min((1), best (2)) = {bridge.rate:.0f}/{ceiling.rate:.0f} = "
        f"{bridge.rate / ceiling.rate:.2f}  (ceiling: {ceiling.stage})"
    )
    return "\n".join(lines)


async def bridge_stage(
    client: Client, settings: Settings, args: argparse.Namespace, rnd: int, meter: CpuMeter
) -> Result:
    """Publish the round's events to fresh topics and run a bridge over them."""
    bridged = lane(settings, f"r{rnd}b", task_queue=f"r{rnd}b-queue")
    ends = publish(bridged, make_events(args.kind, args.events, args.employees, f"r{rnd}b"))
    return await run_bridge(client, bridged, ends, meter, args.bridge_options)


async def measure(args: argparse.Namespace, out: Callable[[str], None]) -> list[Result]:
    """Run the three stages on a private stack and print the table."""
    with private_stack(args.partitions, args.keep) as (settings, stack):
        meter = CpuMeter({k: v for k, v in stack.pids().items() if k != "smtp"})
        client = await connect(settings)
        n, m = args.events, args.employees
        out(
            f"stack up: temporal {settings.temporal_target}, kafka {settings.kafka_servers}; "
            f"{n} {args.kind} events over {m} employees, {args.partitions} partitions/topic, "
            f"{os.cpu_count()} cpus"
        )

        consume = lane(settings, "c", task_queue="c-queue")
        ends = publish(consume, make_events(args.kind, n, m, "c"))
        results = [await asyncio.to_thread(consume_raw, consume, ends, meter)]
        out(f"  {results[-1].stage}: {results[-1].rate:.0f}/s")

        # A few calls first so that connection set-up is not measured.
        warm = lane(settings, "w", task_queue="w-queue")
        await signal_with_start(
            client, warm, validated(warm, make_events(args.kind, 50, 50, "w")), 50, meter
        )
        # `talentloop bridge` tunes its collector once started; stages (2) and (3) share this
        # process, so both run with the same settings.
        tune_for_service()
        # Rounds alternate the order of (2) and (3) so that drift of the server hits both.
        for rnd in range(args.rounds):
            temporal_first = rnd % 2 == 0
            measured: list[Result] = []
            if not temporal_first:
                measured.append(await bridge_stage(client, settings, args, rnd, meter))
                out(f"  {measured[-1].stage} #{rnd + 1}: {measured[-1].rate:.0f}/s")
            for i, concurrency in enumerate(args.concurrency):
                stage = lane(settings, f"r{rnd}t{i}", task_queue=f"r{rnd}t{i}-queue")
                evs = validated(stage, make_events(args.kind, n, m, f"r{rnd}t{i}"))
                measured.append(await signal_with_start(client, stage, evs, concurrency, meter))
                out(f"  {measured[-1].stage} #{rnd + 1}: {measured[-1].rate:.0f}/s")
            if temporal_first:
                measured.append(await bridge_stage(client, settings, args, rnd, meter))
                out(f"  {measured[-1].stage} #{rnd + 1}: {measured[-1].rate:.0f}/s")
            for r in measured:
                r.stage += f" #{rnd + 1}"
                r.extra["round"] = rnd + 1
            results += measured
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure, print the table and the JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000, help="events per stage")
    parser.add_argument("--employees", type=int, default=1000, help="distinct employee ids")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument("--kind", choices=("review", "moved"), default="review")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[200, 500],
        help="in-flight signal-with-start calls for (2), comma-separated; the best counts",
    )
    parser.add_argument(
        "--bridge-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Bridge keyword (max_in_flight, poll_ms, max_records, commit_interval)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of (2) and (3), in alternating order"
    )
    parser.add_argument("--json", type=Path, help="write the JSON lines here, not to stdout")
    parser.add_argument("--keep", action="store_true", help="keep the stack's state directory")
    args = parser.parse_args(argv)
    args.bridge_options = {
        k: (float(v) if "." in v else int(v))
        for k, v in (opt.split("=", 1) for opt in args.bridge_option)
    }
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)

    def out(line: str) -> None:
        print(line, flush=True)

    results = asyncio.run(measure(args, out))
    consume = results[0]
    temporal = [r for r in results if r.stage.startswith("(2)")]
    bridges = [r for r in results if r.stage.startswith("(3)")]
    best_temporal = max(temporal, key=lambda r: r.rate)
    best_bridge = max(bridges, key=lambda r: r.rate)
    ceiling = min(consume, best_temporal, key=lambda r: r.rate)
    # Per round: the bridge against the best (2) of the same round; the rounds' geometric mean
    # cancels drift of the server (it slows as open workflows pile up) over alternating orders.
    ratios = []
    for rnd in range(1, args.rounds + 1):
        in_round = max((r for r in temporal if r.extra["round"] == rnd), key=lambda r: r.rate)
        own = next(r for r in bridges if r.extra["round"] == rnd)
        ratios.append(own.rate / min(consume.rate, in_round.rate))
    ratio = statistics.geometric_mean(ratios)
    out("")
    out(render(results, best_bridge, ceiling))
    out(
        "per round, (3)/min((1), best (2) of the round): "
        + ", ".join(f"#{i}: {r:.2f}" for i, r in enumerate(ratios, 1))
    )
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    out(f"ratio (geometric mean of the rounds) = {ratio:.2f}  target >= {TARGET:.2f}: {verdict}")
    out(
        f"sizing: {best_bridge.rate:.0f} events/s per bridge (one bridge, {args.partitions} "
        f"partitions, {os.cpu_count()} cores shared with Temporal and the broker)"
    )

    def per_event(rs: list[Result], key: str) -> float:
        return sum(r.cpu.get(key, 0.0) for r in rs) * 1000 / sum(r.events for r in rs)

    out(
        "cpu per event, (2) -> (3): bench process "
        f"{per_event(temporal, 'bench'):.2f} -> {per_event(bridges, 'bench'):.2f} ms, "
        f"temporal server {per_event(temporal, 'temporal'):.2f} -> "
        f"{per_event(bridges, 'temporal'):.2f} ms"
    )
    for r in bridges:
        extra = r.extra
        out(
            f"{r.stage}: first record {extra['assigned_to_first_record_s']:.2f}s after "
            f"assignment, last signal at {extra['to_last_signal_s']:.2f}s, last commit "
            f"{extra['last_signal_to_last_commit_s']:.2f}s later, stop {extra['stop_s']:.2f}s; "
            + ", ".join(f"{k}={v}" for k, v in extra["stats"].items())
        )
    summary = {
        "summary": True,
        "events": args.events,
        "employees": args.employees,
        "partitions": args.partitions,
        "kind": args.kind,
        "ceiling_stage": ceiling.stage,
        "ceiling_rate": ceiling.rate,
        "bridge_stage": best_bridge.stage,
        "bridge_rate": best_bridge.rate,
        "best_ratio": round(best_bridge.rate / ceiling.rate, 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "ratio": round(ratio, 3),
        "target": TARGET,
        "pass": ratio >= TARGET,
    }
    lines = [json.dumps(asdict(r)) for r in results] + [json.dumps(summary)]
    if args.json is not None:
        args.json.write_text("\n".join(lines) + "\n")
        out(f"JSON lines written to {args.json}")
    else:
        out("")
        for line in lines:
            out(line)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
