"""The `talentloop` command line: dev stack, worker, bridge, publishing, seeding, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from kafka.errors import KafkaError
from pydantic import ValidationError
from temporalio.service import RPCError

from talentloop.cli_lms import lms_app
from talentloop.config import Settings
from talentloop.devstack import ComponentStatus, DevStack, render_status
from talentloop.errors import TalentloopError, UsageProblem

app = typer.Typer(
    help="talentloop: reviews and strategy changes in, skill gaps closed by training, once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dev = typer.Typer(help="The embedded dev stack: Temporal, a Kafka broker, an SMTP sink.")
app.add_typer(dev, name="dev")
dlq = typer.Typer(help="The dead-letter queue: what was refused, and replaying it.")
app.add_typer(dlq, name="dlq")
contract = typer.Typer(help="The event contract: JSON Schemas and the AsyncAPI document.")
app.add_typer(contract, name="contract")
app.add_typer(lms_app, name="lms")


def _settings() -> Settings:
    return Settings()


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for noisy in ("temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run_until_signal(make: Any) -> None:
    """Run `make(stop)` until SIGTERM or Ctrl-C sets `stop`."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await make(stop)

    asyncio.run(serve())


@contextmanager
def _stack_started(settings: Settings) -> Iterator[list[ComponentStatus]]:
    """Start the dev stack; if what follows fails, stop what this start started, and re-raise."""
    stack = DevStack(settings)
    statuses = stack.up()
    try:
        yield statuses
    except BaseException:
        started = [s.name for s in statuses if s.started]
        if started:
            stack.down(only=started)
            typer.echo(f"stopped what this command started: {', '.join(started)}", err=True)
        raise


def _setup(settings: Settings) -> None:
    """Run `talentloop setup` and print one line per step."""
    from talentloop.provision import run_setup

    for step in asyncio.run(run_setup(settings)):
        typer.echo(f"setup {step.component:<9} {step.detail}")


@dev.command("up")
def dev_up() -> None:
    """Start the stack (what already runs is left alone), set it up, print the addresses."""
    settings = _settings()
    with _stack_started(settings) as statuses:
        typer.echo(render_status(statuses, settings))
        _setup(settings)


@app.command()
def setup() -> None:
    """Set up the configured deployment, idempotently (once per release, e.g. an init job).

    Migrates the database, creates the Kafka topics with the configured partitions, registers
    the namespace's search attributes, and creates or updates every Temporal Schedule.
    """
    _setup(_settings())


@app.command()
def doctor() -> None:
    """Check every component of the configured deployment; exit 0 only if all are ready."""
    from talentloop.doctor import render_checks, run_doctor

    checks = asyncio.run(run_doctor(_settings()))
    typer.echo(render_checks(checks))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@dev.command("down")
def dev_down() -> None:
    """Stop exactly what `dev up` started."""
    settings = _settings()
    typer.echo(render_status(DevStack(settings).down(), settings))


@dev.command("status")
def dev_status() -> None:
    """Show each component, whether it runs, and its address."""
    settings = _settings()
    typer.echo(render_status(DevStack(settings).status(), settings))


@app.command()
def worker(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes (a Python worker uses about one core; one per core).",
        ),
    ] = 1,
) -> None:
    """Run a Temporal worker (workflows and activities) until SIGTERM or Ctrl-C."""
    from talentloop.worker import run_worker, run_worker_processes

    _logging(verbose)
    settings = _settings()
    if processes > 1:
        raise typer.Exit(run_worker_processes(processes, verbose=verbose))
    _run_until_signal(lambda stop: run_worker(settings, stop))


@app.command()
def bridge(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the Kafka -> Temporal bridge until SIGTERM or Ctrl-C; it drains before exiting."""
    from activities.directory import DirectoryActivities
    from activities.store.engine import open_engine, session_factory
    from talentloop.bridge import Bridge, directory_check
    from talentloop.gc_tuning import tune_for_service
    from talentloop.temporal import connect

    _logging(verbose)
    settings = _settings()

    directory = DirectoryActivities(session_factory(open_engine(settings.db_url)))

    async def run(stop: asyncio.Event) -> None:
        known = directory_check(directory.lookup, ttl=settings.directory_cache_seconds)
        client = await connect(settings)
        tune_for_service()
        await Bridge(settings, client, known_employee=known).run(stop)

    _run_until_signal(run)


def load_events(paths: list[Path]) -> list[dict[str, Any]]:
    """Read CloudEvents from files: a JSON object, a JSON array, or one object per line."""
    events: list[dict[str, Any]] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise UsageProblem(f"cannot read {path}: {err.strerror}") from err
        try:
            stripped = text.lstrip()
            if stripped.startswith("["):
                docs = json.loads(text)
            elif stripped.startswith("{") and "\n{" not in stripped:
                docs = [json.loads(text)]
            else:
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise UsageProblem(f"{path}: not JSON ({err.msg} at line {err.lineno})") from err
        for doc in docs:
            if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
                raise UsageProblem(f"{path}: every event must be a JSON object with a 'type'")
        events.extend(docs)
    return events


def publish_events(
    settings: Settings, events: list[dict[str, Any]], topic: str | None = None
) -> dict[str, int]:
    """Publish structured-mode CloudEvents keyed by employee id; returns counts per topic."""
    from talentloop.kafka import make_producer, topic_for_type

    producer = make_producer(settings)
    counts: dict[str, int] = {}
    try:
        futures = []
        for ev in events:
            target = topic or topic_for_type(settings, ev["type"])
            if target is None:
                raise UsageProblem(f"no topic for event type {ev['type']!r}; pass --topic")
            data = ev.get("data")
            key = data.get("employee_id") if isinstance(data, dict) else None
            futures.append(
                producer.send(
                    target,
                    key=str(key or ev.get("subject") or ev.get("id")).encode(),
                    value=json.dumps(ev).encode(),
                )
            )
            counts[target] = counts.get(target, 0) + 1
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close(timeout=10)
    return counts


@app.command()
def publish(
    files: Annotated[list[Path], typer.Argument(help="JSON / JSON-lines files of CloudEvents.")],
    topic: Annotated[str | None, typer.Option(help="Topic; default by event type.")] = None,
) -> None:
    """Publish CloudEvents to Kafka, each on its type's topic, keyed by employee id."""
    settings = _settings()
    counts = publish_events(settings, load_events(files), topic)
    for name, n in sorted(counts.items()):
        typer.echo(f"published {n} event(s) to {name}")


@app.command()
def seed(
    employees: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    random_seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """Load O*NET roles and skills; generate a course catalog and employees (marked generated)."""
    from activities.skills.onet import OnetDataMissing, find_onet_files
    from activities.store.engine import open_engine, session_factory
    from talentloop.seed import seed as run_seed

    settings = _settings()
    try:
        find_onet_files(settings.onet_dir)
    except OnetDataMissing as err:
        raise UsageProblem(f"{err} (TALENTLOOP_ONET_DIR)") from err
    counts = run_seed(
        session_factory(open_engine(settings.db_url)),
        settings.onet_dir,
        employees=employees,
        random_seed=random_seed,
    )
    typer.echo(
        f"seeded {counts.skills} skills and {counts.roles} roles from O*NET; generated "
        f"{counts.courses} courses and {counts.employees} employees"
    )


@app.command("sample-reviews")
def sample_reviews_cmd(
    out: Annotated[Path, typer.Option(help="Write JSON lines here.")],
    count: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """Write GENERATED review.completed events for seeded employees (for `publish`)."""
    from activities.store.engine import open_engine, session_factory
    from talentloop.seed import sample_reviews

    events = sample_reviews(session_factory(open_engine(_settings().db_url)), count)
    if not events:
        raise UsageProblem("no employees in the database: run `talentloop seed` first")
    out.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    typer.echo(f"wrote {len(events)} review event(s) to {out}")


@app.command()
def demo(
    reviews: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the outcome.")] = 120.0,
) -> None:
    """Start the stack, seed, publish a burst of reviews, wait for the outcome, summarise."""
    from talentloop.demo import run_demo

    _logging(False)
    settings = _settings()
    with _stack_started(settings) as statuses:
        typer.echo(render_status(statuses, settings))
        _setup(settings)
        summary = asyncio.run(run_demo(settings, reviews=reviews, timeout=timeout))
    typer.echo(summary.render(settings))


@dlq.command("list")
def dlq_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
) -> None:
    """Show every dead letter: id, time, reason, source topic/partition@offset, detail."""
    from talentloop.dlq import read_dead_letters

    letters = [d for d in read_dead_letters(_settings()) if reason in (None, d.reason)]
    if not letters:
        typer.echo("the dead-letter queue is empty" + (f" for reason {reason}" if reason else ""))
        return
    typer.echo(f"{'ID':<10} {'TIME':<33} {'REASON':<18} {'SOURCE':<28} DETAIL")
    for d in letters:
        typer.echo(f"{d.id:<10} {d.time:<33} {d.reason:<18} {d.source:<28} {d.detail[:80]}")
    typer.echo(f"{len(letters)} dead letter(s)")


@dlq.command("replay")
def dlq_replay(
    ids: Annotated[list[str] | None, typer.Option("--id", help="partition:offset")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    reason: Annotated[str | None, typer.Option(help="With --all: only this reason.")] = None,
) -> None:
    """Re-publish chosen dead letters to their source topics (after fixing the cause)."""
    from talentloop.dlq import read_dead_letters, replay

    if not ids and not all_:
        raise UsageProblem("choose what to replay: --id PARTITION:OFFSET (repeatable) or --all")
    settings = _settings()
    letters = read_dead_letters(settings)
    if ids:
        by_id = {d.id: d for d in letters}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise UsageProblem(f"no dead letter with id {', '.join(missing)} (see `dlq list`)")
        chosen = [by_id[i] for i in ids]
    else:
        chosen = [d for d in letters if reason in (None, d.reason)]
    typer.echo(f"replayed {replay(settings, chosen)} dead letter(s) to their source topics")


@contract.command("generate")
def contract_generate() -> None:
    """Write schemas/json/*.json and schemas/asyncapi.yaml from the event models."""
    from talentloop.contract import generate

    for path in generate():
        typer.echo(f"wrote {path}")


@contract.command("check")
def contract_check() -> None:
    """Exit 1 when the checked-in schemas differ from what the models generate."""
    from talentloop.contract import stale

    paths = stale()
    if paths:
        for path in paths:
            typer.echo(f"stale: {path}", err=True)
        raise typer.Exit(1)
    typer.echo("the contract files are up to date")


@app.command()
def approve(
    employee: Annotated[str, typer.Argument(help="The employee whose plan item is pending.")],
    course: Annotated[str, typer.Argument(help="The course id of the pending item.")],
    approver: Annotated[str, typer.Option("--as", help="Your employee id (the approver).")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    comment: Annotated[str, typer.Option(help="A note kept on the item's timeline.")] = "",
) -> None:
    """Approve (or --reject) a pending plan item; only its current approver may."""
    from temporalio.client import WorkflowUpdateFailedError

    from schemas.learning import ApprovalDecision
    from talentloop.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

    settings = _settings()
    decision = ApprovalDecision(
        course_id=course, approver_id=approver, approve=not reject, comment=comment
    )

    async def send() -> str:
        client = await connect(settings)
        handle = client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee)
        )
        try:
            item = await handle.execute_update(EmployeeLearningWorkflow.decide, decision)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise UsageProblem(getattr(cause, "message", None) or str(cause)) from err
        except RPCError as err:
            raise UsageProblem(f"no learning plan for employee {employee}: {err}") from err
        return f"{item.title}: {item.status} ({item.transitions[-1].why})"

    typer.echo(asyncio.run(send()))


@app.command()
def plan(
    employee: Annotated[str, typer.Argument(help="Employee id.")],
    timeline: Annotated[bool, typer.Option(help="Also print the timeline.")] = True,
) -> None:
    """Show an employee's learning plan: each item, its status and why; then the timeline."""
    from talentloop.temporal import connect
    from workflows.employee import EmployeeLearningWorkflow, workflow_id_for

    settings = _settings()

    async def ask() -> None:
        client = await connect(settings)
        handle = client.get_workflow_handle_for(
            EmployeeLearningWorkflow.run, workflow_id_for(employee)
        )
        try:
            state = await handle.query(EmployeeLearningWorkflow.state)
        except RPCError as err:
            raise UsageProblem(f"no learning plan for employee {employee}: {err}") from err
        typer.echo(f"{'COURSE':<34} {'STATUS':<18} {'DUE':<11} WHY")
        for item in state.items:
            due = item.due.isoformat() if item.due else ""
            typer.echo(f"{item.course_id:<34} {item.status:<18} {due:<11} {item.reason}")
            if item.notification_error:
                typer.echo(f"{'':<34} ! {item.notification_error}")
        if timeline:
            typer.echo("")
            for entry in state.timeline:
                typer.echo(f"{entry.at:%Y-%m-%d %H:%M} {entry.kind:<18} {entry.text}")

    asyncio.run(ask())


mail = typer.Typer(help="Notification emails.")
app.add_typer(mail, name="mail")


@mail.command("preview")
def mail_preview(
    template: Annotated[str, typer.Argument(help="Template name, e.g. reminder.")],
    employee: Annotated[str, typer.Option(help="Employee id to render it for.")],
    html: Annotated[bool, typer.Option(help="Print the HTML part instead of the text.")] = False,
) -> None:
    """Render one template for an employee (sample courses from the catalog), in their locale."""
    from activities.directory import DirectoryActivities
    from activities.mail.render import MailRenderer, UnknownTemplate
    from activities.store.engine import open_engine, session_factory
    from talentloop.preview import preview_context

    sessions = session_factory(open_engine(_settings().db_url))
    person = DirectoryActivities(sessions).lookup(employee)
    if person is None:
        raise UsageProblem(f"no employee {employee} in the directory")
    try:
        rendered = MailRenderer().render(template, preview_context(sessions, person), person.locale)
    except UnknownTemplate as err:
        raise UsageProblem(str(err)) from err
    typer.echo(f"Subject: {rendered.subject}\nContent-Language: {rendered.locale}\n")
    typer.echo(rendered.html if html else rendered.text)


importer = typer.Typer(help="Import reference data.")
app.add_typer(importer, name="import")


@importer.command("onet")
def import_onet(
    occupations: Annotated[
        list[str] | None,
        typer.Option("--occupations", help="O*NET-SOC codes (repeatable); default: all."),
    ] = None,
    onet_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="An O*NET release folder (e.g. a newer one from onetcenter.org); "
            "default: TALENTLOOP_ONET_DIR, else the O*NET 29.3 data installed with talentloop.",
        ),
    ] = None,
) -> None:
    """Import O*NET skills and role requirements (LV level, IM importance) into the database."""
    from activities.skills.onet import OnetDataMissing, load_onet
    from activities.store.engine import open_engine, session_factory
    from talentloop.seed import store_onet

    settings = _settings()
    source = onet_dir if onet_dir is not None else settings.onet_dir
    try:
        data = load_onet(source, occupations or None)
    except OnetDataMissing as err:
        hint = "--dir" if onet_dir is not None else "TALENTLOOP_ONET_DIR"
        raise UsageProblem(f"{err} ({hint})") from err
    if occupations and not data.roles:
        raise UsageProblem(f"none of {', '.join(occupations)} has skill ratings in O*NET")
    store_onet(session_factory(open_engine(settings.db_url)), data)
    requirements = sum(len(r.requirements) for r in data.roles)
    typer.echo(
        f"imported {len(data.skills)} skills, {len(data.roles)} roles and {requirements} "
        f"requirements ({data.skipped_not_relevant} not-relevant rows skipped, "
        f"{data.suppressed} flagged low-precision)"
    )
    typer.echo(data.attribution)


def _setting_problem(err: ValidationError) -> str:
    """One line naming the first bad setting (its environment variable) or field."""
    first = err.errors()[0] if err.errors() else None
    if first is None:
        return str(err).splitlines()[0]
    where = ".".join(str(part) for part in first["loc"])
    if err.title == Settings.__name__ and where:
        where = f"TALENTLOOP_{where.split('.')[0].upper()}"
    return f"bad setting {where}: {first['msg']}" if where else first["msg"]


def main() -> None:
    """Entry point: bad input and unreachable servers end in one line and a non-zero exit."""
    from activities.skills.onet import OnetDataMissing

    try:
        app()
    except UsageProblem as err:
        typer.echo(f"talentloop: {err}", err=True)
        sys.exit(2)
    except ValidationError as err:
        typer.echo(f"talentloop: {_setting_problem(err)}", err=True)
        sys.exit(2)
    except (TalentloopError, OnetDataMissing) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        typer.echo(f"talentloop: {first}", err=True)
        sys.exit(1)
    except (KafkaError, RPCError, ConnectionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        typer.echo(f"talentloop: {type(err).__name__}: {first}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
