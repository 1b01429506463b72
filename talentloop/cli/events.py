"""`talentloop publish` and `talentloop sample-reviews`: events onto the inbound topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem
from talentloop.service.publishing import load_events, publish_events


@app.command()
def publish(
    files: Annotated[list[Path], typer.Argument(help="JSON / JSON-lines files of CloudEvents.")],
    topic: Annotated[str | None, typer.Option(help="Topic; default by event type.")] = None,
) -> None:
    """Publish CloudEvents to Kafka, each on its type's topic, keyed by employee id."""
    settings = load_settings()
    counts = publish_events(settings, load_events(files), topic)
    for name, n in sorted(counts.items()):
        typer.echo(f"published {n} event(s) to {name}")


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
