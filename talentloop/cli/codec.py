"""`talentloop codec-server` (the Temporal UI's remote codec) and `talentloop codec-key`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from talentloop.cli.app import app, configure_logging, load_settings, run_until_signal
from talentloop.errors import UsageProblem


@app.command("codec-server")
def codec_server(
    host: Annotated[
        str | None, typer.Option(help="Listen address (TALENTLOOP_CODEC_SERVER_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (TALENTLOOP_CODEC_SERVER_PORT).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve /encode and /decode for the Temporal UI, so authorised people read payloads.

    Needs TALENTLOOP_PAYLOAD_KEYS and TALENTLOOP_CODEC_SERVER_TOKEN; in the Temporal UI set
    the codec endpoint to this server's address and pass the token as the access token.
    """
    import uvicorn

    from talentloop.service.codec_server import create_codec_app
    from talentloop.service.temporal import payload_codec

    configure_logging(verbose)
    settings = load_settings()
    codec = payload_codec(settings)
    if codec is None:
        raise UsageProblem("no payload key: set TALENTLOOP_PAYLOAD_KEYS (or its _FILE variant)")
    if settings.codec_server_token is None:
        raise UsageProblem("set TALENTLOOP_CODEC_SERVER_TOKEN: the codec server needs a token")
    origins = settings.codec_server_origins or [settings.temporal_ui_url]
    web = create_codec_app(codec, settings.codec_server_token.get_secret_value(), origins)
    where = (host or settings.codec_server_host, port or settings.codec_server_port)

    async def serve(stop: asyncio.Event) -> None:
        server = uvicorn.Server(
            uvicorn.Config(
                web,
                host=where[0],
                port=where[1],
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        task = asyncio.create_task(server.serve())
        typer.echo(
            f"codec server at http://{where[0]}:{where[1]}/ for {', '.join(origins)}", err=True
        )
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        stopper.cancel()

    run_until_signal(serve)


@app.command("codec-key")
def codec_key(
    key_id: Annotated[str, typer.Argument(help="The new key's id, e.g. 2026-12.")],
) -> None:
    """Print a new random payload key as id:base64key, to add to TALENTLOOP_PAYLOAD_KEYS."""
    from talentloop.service.codec import new_key_line

    if not key_id or any(c in key_id for c in ":, \n"):
        raise UsageProblem("a key id may not contain ':', ',' or spaces")
    typer.echo(new_key_line(key_id))
