"""The Temporal UI's remote codec endpoint: ``POST /encode`` and ``POST /decode``.

The Temporal Web UI (and ``temporal workflow show --codec-endpoint``) sends the payloads it
shows to a codec server and displays what comes back, so people allowed to see personal data
see decrypted payloads while the Temporal database keeps only ciphertext. Every request must
carry ``Authorization: Bearer <TALENTLOOP_CODEC_SERVER_TOKEN>``; browsers may call it only from
the configured UI origins (CORS, with credentials, so the UI can pass the token).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads

from talentloop.service.codec import AesGcmCodec, PayloadKeyProblem

log = logging.getLogger("talentloop.codec_server")

_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def create_codec_app(codec: AesGcmCodec, token: str, origins: Sequence[str]) -> Starlette:
    """The codec server's ASGI application.

    Args:
        codec: Encrypts and decrypts payloads with the configured keys.
        token: The bearer token every ``/encode`` and ``/decode`` request must carry.
        origins: Web origins (``scheme://host:port``) allowed to call it from a browser.

    Returns:
        A Starlette app: ``POST /encode``, ``POST /decode`` (JSON ``{"payloads": [...]}`` as
        the Temporal UI sends them), their CORS preflights, and ``GET /healthz``.
    """
    allowed = {o.rstrip("/") for o in origins}
    expected = f"Bearer {token}".encode()

    def cors(request: Request, response: Response) -> Response:
        origin = request.headers.get("origin")
        if origin and origin.rstrip("/") in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Vary"] = "Origin"
        return response

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    async def handle(request: Request) -> Response:
        if request.method == "OPTIONS":
            origin = request.headers.get("origin", "").rstrip("/")
            status = 204 if origin in allowed else 403
            return cors(request, Response(status_code=status))
        caller = request.headers.get("origin")
        if caller is not None and caller.rstrip("/") not in allowed:
            return Response("origin not allowed\n", status_code=403)
        if not authorised(request):
            log.warning("codec request refused: missing or wrong bearer token")
            return cors(request, Response("unauthorised\n", status_code=401))
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError):
            return cors(request, Response('body must be {"payloads": [...]}\n', status_code=400))
        items: list[Payload] = list(payloads.payloads)
        try:
            if request.url.path.rstrip("/").endswith("/encode"):
                done = await codec.encode(items)
            else:
                done = await codec.decode(items)
        except PayloadKeyProblem as err:
            return cors(request, Response(f"{err}\n", status_code=422))
        body = json_format.MessageToDict(Payloads(payloads=done))
        body.setdefault("payloads", [])
        return cors(request, JSONResponse(body))

    async def healthz(request: Request) -> Response:
        return Response("ok\n")

    return Starlette(
        routes=[
            Route("/encode", handle, methods=["POST", "OPTIONS"]),
            Route("/decode", handle, methods=["POST", "OPTIONS"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
