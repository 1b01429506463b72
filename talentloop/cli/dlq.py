"""`talentloop dlq list|replay`: what the bridge refused, and sending it again."""

from __future__ import annotations

from typing import Annotated

import typer

from talentloop.cli.app import app, load_settings
from talentloop.errors import UsageProblem

dlq = typer.Typer(help="The dead-letter queue: what was refused, and replaying it.")
app.add_typer(dlq, name="dlq")


@dlq.command("list")
def dlq_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
) -> None:
    """Show every dead letter: id, time, reason, source topic/partition@offset, detail."""
    from talentloop.service.dlq import read_dead_letters

    letters = [d for d in read_dead_letters(load_settings()) if reason in (None, d.reason)]
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
    from talentloop.service.dlq import read_dead_letters, replay

    if not ids and not all_:
        raise UsageProblem("choose what to replay: --id PARTITION:OFFSET (repeatable) or --all")
    settings = load_settings()
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
