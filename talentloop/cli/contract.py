"""`talentloop contract generate|check`: the JSON Schemas and AsyncAPI document."""

from __future__ import annotations

import typer

from talentloop.cli.app import app

contract = typer.Typer(help="The event contract: JSON Schemas and the AsyncAPI document.")
app.add_typer(contract, name="contract")


@contract.command("generate")
def contract_generate() -> None:
    """Write schemas/json/*.json and schemas/asyncapi.yaml from the event models."""
    from talentloop.dev.contract import generate

    for path in generate():
        typer.echo(f"wrote {path}")


@contract.command("check")
def contract_check() -> None:
    """Exit 1 when the checked-in schemas differ from what the models generate."""
    from talentloop.dev.contract import stale

    paths = stale()
    if paths:
        for path in paths:
            typer.echo(f"stale: {path}", err=True)
        raise typer.Exit(1)
    typer.echo("the contract files are up to date")
