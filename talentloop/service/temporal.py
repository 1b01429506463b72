"""Connecting to Temporal with the pydantic data converter, over TLS / mTLS / an API key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.service import TLSConfig

from talentloop.errors import UsageProblem
from talentloop.service.codec import AesGcmCodec, PayloadKeyProblem, codec_from, data_converter
from talentloop.service.config import Settings


def _read(path: Path | None, variable: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageProblem(
            f"bad setting {variable}: cannot read {path} ({exc.strerror or exc})"
        ) from None


def tls_config(settings: Settings) -> TLSConfig | bool:
    """The client's TLS: ``False`` (plain), or a `TLSConfig` with the CA and client pair.

    Raises:
        UsageProblem: If a configured certificate or key file cannot be read.

    """
    if not settings.temporal_tls_enabled:
        return False
    return TLSConfig(
        server_root_ca_cert=_read(settings.temporal_tls_ca_path, "TALENTLOOP_TEMPORAL_TLS_CA_PATH"),
        client_cert=_read(settings.temporal_tls_cert_path, "TALENTLOOP_TEMPORAL_TLS_CERT_PATH"),
        client_private_key=_read(
            settings.temporal_tls_key_path, "TALENTLOOP_TEMPORAL_TLS_KEY_PATH"
        ),
        domain=settings.temporal_tls_server_name,
    )


def payload_codec(settings: Settings) -> AesGcmCodec | None:
    """The payload codec of the configured keys, or ``None`` (no key: no encryption).

    Raises:
        UsageProblem: If the keys are malformed (the message never quotes a key).
    """
    keys = settings.payload_keys.get_secret_value() if settings.payload_keys else None
    try:
        return codec_from(keys, settings.payload_key_id)
    except PayloadKeyProblem as err:
        raise UsageProblem(f"bad setting TALENTLOOP_PAYLOAD_KEYS: {err}") from None


def connect_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``Client.connect`` besides the target: namespace and security.

    The same for the worker, the bridge and every CLI command: the namespace, TLS (a CA,
    a client certificate and key for mTLS), an API key (Temporal Cloud) and the data converter
    (pydantic; payloads and failure messages encrypted when payload keys are configured).
    """
    options: dict[str, Any] = {
        "namespace": settings.temporal_namespace,
        "data_converter": data_converter(payload_codec(settings)),
        "tls": tls_config(settings),
    }
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    return options


async def connect(settings: Settings) -> Client:
    """Connect a Temporal client to the configured frontend and namespace, TLS as configured."""
    return await Client.connect(settings.temporal_target, **connect_options(settings))


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register our search attributes on a server started without them (test server, a cluster)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from workflows.search_attributes import ALL

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: int(key.indexed_value_type)  # type: ignore[misc]
                for key in ALL
            },
        )
    )
