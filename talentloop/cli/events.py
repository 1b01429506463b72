"""`talentloop publish` and `talentloop sample-reviews`: events onto the inbound topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem
from talentloop.service.publishing import check_events, load_events, publish_events


@app.command()
def publish(
    files: Annotated[list[Path], typer.Argument(help="JSON / JSON-lines files of CloudEvents.")],
    topic: Annotated[str | None, typer.Option(help="Topic; default by event type.")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Send events the bridge will refuse too (it dead-letters them)."
        ),
    ] = False,
) -> None:
    """Publish CloudEvents to Kafka, each on its type's topic, keyed by employee id.

    Every event is first checked as the bridge checks it; the invalid ones are listed, one line
    each (file, position, id, reason), and nothing is sent (exit code 2) unless --force.
    """
    settings = load_settings()
    events = load_events(files)
    refused = check_events(settings, events, topic)
    for refusal in refused:
        typer.echo(f"invalid: {refusal}", err=True)
    unsendable = sum(not r.sendable for r in refused)
    if unsendable:
        raise UsageProblem(f"{unsendable} event(s) have no topic; nothing sent (pass --topic)")
    if refused and not force:
        raise UsageProblem(
            f"{len(refused)} of {len(events)} event(s) invalid; nothing sent "
            "(--force sends them anyway, to the bridge's DLQ)"
        )
    counts = publish_events(settings, [e.doc for e in events], topic)
    for name, n in sorted(counts.items()):
        typer.echo(f"published {n} event(s) to {name}")
    if refused:
        typer.echo(
            f"talentloop: {len(refused)} of them invalid, sent anyway (--force): "
            "the bridge dead-letters them",
            err=True,
        )


@app.command("sample-reviews")
def sample_reviews_cmd(
    out: Annotated[Path, typer.Option(help="Write JSON lines here.")],
    count: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """Write GENERATED review.completed events for seeded employees (for `publish`)."""
    from activities.store.engine import open_engine, session_factory
    from talentloop.dev.seed import sample_reviews

    events = sample_reviews(session_factory(open_engine(load_settings().db_url)), count)
    if not events:
        raise UsageProblem("no employees in the database: run `talentloop seed` first")
    out.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    typer.echo(f"wrote {len(events)} review event(s) to {out}")
