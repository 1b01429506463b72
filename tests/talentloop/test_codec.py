"""The AES-256-GCM payload codec, its settings, and the codec server the Temporal UI calls."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from support.cli import start_talentloop, talentloop
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from talentloop.dev.teststack import private_settings
from talentloop.errors import UsageProblem
from talentloop.service.codec import (
    ENCODING,
    KEY_ID,
    AesGcmCodec,
    PayloadKeyProblem,
    codec_from,
    data_converter,
    new_key_line,
    parse_keys,
)
from talentloop.service.codec_server import create_codec_app
from talentloop.service.temporal import connect_options, payload_codec
from workflows.employee import EmployeeLearningWorkflow
from workflows.rollout import StrategyRolloutWorkflow

OLD = base64.b64encode(bytes(range(32))).decode()
NEW = base64.b64encode(bytes(range(32, 64))).decode()
PERSONAL = "Ada Lovelace <ada@example.com>: needs to listen more"
HISTORIES = sorted((Path(__file__).parents[1] / "workflows" / "histories").rglob("*.json"))


def plain(text: str) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([text])[0]


async def test_payloads_are_encrypted_under_the_active_key_and_read_back() -> None:
    codec = AesGcmCodec({"k1": base64.b64decode(OLD)}, "k1")
    (sealed,) = await codec.encode([plain(PERSONAL)])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert b"Lovelace" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the inner encoding is hidden too
    (again,) = await codec.encode([plain(PERSONAL)])
    assert again.data != sealed.data  # a fresh nonce each time
    (opened,) = await codec.decode([sealed])
    assert opened == plain(PERSONAL)


async def test_unencrypted_payloads_pass_through_unchanged() -> None:
    codec = AesGcmCodec({"k1": base64.b64decode(OLD)}, "k1")
    old = plain(PERSONAL)
    assert await codec.decode([old]) == [old]


async def test_rotation_keeps_old_payloads_readable_and_unknown_keys_are_named() -> None:
    before = codec_from(f"k1:{OLD}", None)
    assert before is not None
    (written,) = await before.encode([plain(PERSONAL)])
    after = codec_from(f"k1:{OLD},k2:{NEW}", "k2")
    assert after is not None and after.active_key_id == "k2"
    (fresh,) = await after.encode([plain(PERSONAL)])
    assert fresh.metadata[KEY_ID] == b"k2"
    assert await after.decode([written, fresh]) == [plain(PERSONAL)] * 2

    retired = codec_from(f"k2:{NEW}", None)
    assert retired is not None
    with pytest.raises(PayloadKeyProblem, match="unknown key id 'k1'"):
        await retired.decode([written])


async def test_a_tampered_or_relabelled_payload_is_refused() -> None:
    codec = AesGcmCodec({"k1": base64.b64decode(OLD), "k2": base64.b64decode(NEW)}, "k1")
    (sealed,) = await codec.encode([plain(PERSONAL)])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k2"}, data=sealed.data)
    for bad in (flipped, relabelled):
        with pytest.raises(PayloadKeyProblem, match="does not authenticate"):
            await codec.decode([bad])


@pytest.mark.parametrize(
    ("text", "active", "problem"),
    [
        ("k1", None, "id:base64key"),
        (f"k1:{OLD[:-8]}", None, "is 27 bytes"),
        ("k1:not base64!", None, "not base64"),
        (f"k1:{OLD},k1:{NEW}", None, "given twice"),
        (f"k1:{OLD},k2:{NEW}", None, "several payload keys"),
        (f"k1:{OLD}", "k9", "'k9' is not configured"),
        ("", "k1", "no payload key"),
    ],
)
def test_bad_keys_are_refused_without_quoting_them(
    text: str, active: str | None, problem: str, tmp_path: Path
) -> None:
    settings = private_settings(tmp_path, payload_keys=text or None, payload_key_id=active)
    with pytest.raises(UsageProblem, match="TALENTLOOP_PAYLOAD_KEYS") as err:
        connect_options(settings)
    assert problem in str(err.value)
    assert OLD[:12] not in str(err.value) and NEW[:12] not in str(err.value)


async def test_no_key_writes_plain_and_names_the_key_an_encrypted_payload_needs(
    tmp_path: Path,
) -> None:
    settings = private_settings(tmp_path)
    assert payload_codec(settings) is None
    converter = connect_options(settings)["data_converter"]
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert type(converter.failure_converter) is type(pydantic_data_converter.failure_converter)
    (written,) = await converter.encode([PERSONAL])
    assert written == plain(PERSONAL)
    assert await converter.decode([written], [str]) == [PERSONAL]
    writer = codec_from(f"k1:{OLD}", None)
    assert writer is not None
    with pytest.raises(PayloadKeyProblem, match=r"key id 'k1'.*TALENTLOOP_PAYLOAD_KEYS"):
        await converter.decode(await writer.encode([plain(PERSONAL)]), [str])


def test_keys_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "payload-keys"
    key_file.write_text(f"k1:{OLD}\nk2:{NEW}\n")
    monkeypatch.setenv("TALENTLOOP_PAYLOAD_KEYS_FILE", str(key_file))
    monkeypatch.setenv("TALENTLOOP_PAYLOAD_KEY_ID", "k2")
    settings = private_settings(tmp_path)
    codec = payload_codec(settings)
    assert codec is not None and codec.active_key_id == "k2"
    assert OLD not in repr(settings)
    converter = connect_options(settings)["data_converter"]
    assert converter.payload_codec is codec or isinstance(converter.payload_codec, AesGcmCodec)
    assert parse_keys(new_key_line("2027")).keys() == {"2027"}


async def test_failure_messages_and_stack_traces_are_encrypted() -> None:
    converter = data_converter(codec_from(f"k1:{OLD}", None))
    failure = Failure()
    try:
        raise ApplicationError(f"cannot enroll {PERSONAL}", PERSONAL)
    except ApplicationError as err:
        await converter.encode_failure(err, failure)
    raw = failure.SerializeToString()
    assert b"Lovelace" not in raw and b"ada@example.com" not in raw
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    back = await converter.decode_failure(failure)
    assert PERSONAL in str(back)


@pytest.mark.parametrize("path", HISTORIES[:6], ids=[p.stem for p in HISTORIES[:6]])
async def test_histories_recorded_before_the_codec_replay_with_it(path: Path) -> None:
    replayer = Replayer(
        workflows=[EmployeeLearningWorkflow, StrategyRolloutWorkflow],
        data_converter=data_converter(codec_from(f"k1:{OLD}", None)),
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(path.stem, path.read_text()), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure


# -- the codec server ---------------------------------------------------------------------------

UI = "http://127.0.0.1:8233"
TOKEN = "codec-token-for-the-tests"


@pytest.fixture
async def codec_server() -> AsyncIterator[str]:
    codec = codec_from(f"k1:{OLD},k2:{NEW}", "k2")
    assert codec is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_codec_app(codec, TOKEN, [UI]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def as_json(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def test_codec_server_decodes_for_the_ui_with_the_token(codec_server: str) -> None:
    writer = codec_from(f"k1:{OLD}", None)
    assert writer is not None
    sealed = await writer.encode([plain(PERSONAL)])
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": UI, "X-Namespace": "default"}
    async with httpx.AsyncClient(base_url=codec_server) as http:
        decoded = await http.post("/decode", content=as_json(sealed), headers=headers)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI
        (back,) = json_format.Parse(decoded.text, Payloads()).payloads
        assert json.loads(back.data) == PERSONAL

        encoded = await http.post("/encode", content=as_json([plain("x")]), headers=headers)
        (enc,) = json_format.Parse(encoded.text, Payloads()).payloads
        assert enc.metadata[KEY_ID] == b"k2"

        preflight = await http.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        assert preflight.headers["access-control-allow-credentials"] == "true"


async def test_codec_server_refuses_without_token_or_from_another_origin(
    codec_server: str,
) -> None:
    writer = codec_from(f"k1:{OLD}", None)
    assert writer is not None
    body = as_json(await writer.encode([plain(PERSONAL)]))
    async with httpx.AsyncClient(base_url=codec_server) as http:
        for headers in (
            {"Origin": UI},
            {"Origin": UI, "Authorization": "Bearer wrong"},
            {"Origin": "http://evil.example", "Authorization": f"Bearer {TOKEN}"},
        ):
            refused = await http.post("/decode", content=body, headers=headers)
            assert refused.status_code in (401, 403), headers
            assert "Lovelace" not in refused.text
            assert refused.headers.get("access-control-allow-origin") in (None, UI)
        other = await http.options(
            "/decode",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers


# -- the commands -------------------------------------------------------------------------------


def test_codec_key_prints_a_usable_key(tmp_path: Path) -> None:
    made = talentloop("codec-key", "2026-12", env=private_settings(tmp_path).to_env())
    assert made.exit_code == 0, made.stderr
    assert parse_keys(made.stdout.strip()).keys() == {"2026-12"}


def test_codec_server_needs_a_key_and_a_token(tmp_path: Path) -> None:
    plain = private_settings(tmp_path)
    no_key = talentloop("codec-server", env=plain.to_env())
    assert no_key.exit_code == 2 and "TALENTLOOP_PAYLOAD_KEYS" in no_key.stderr
    keyed = private_settings(tmp_path, payload_keys=f"k1:{OLD}")
    no_token = talentloop("codec-server", env=keyed.to_env())
    assert no_token.exit_code == 2 and "TALENTLOOP_CODEC_SERVER_TOKEN" in no_token.stderr
    bad = private_settings(tmp_path, payload_keys="k1:c2hvcnQ=")
    refused = talentloop("codec-server", env=bad.to_env())
    assert refused.exit_code == 2 and "5 bytes" in refused.stderr


async def test_codec_server_command_serves_the_ui(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = private_settings(
        tmp_path,
        payload_keys=f"k1:{OLD}",
        codec_server_port=port,
        codec_server_token=TOKEN,
    )
    process = start_talentloop("codec-server", env=settings.to_env())
    try:
        writer = codec_from(f"k1:{OLD}", None)
        assert writer is not None
        body = as_json(await writer.encode([plain(PERSONAL)]))
        headers = {"Authorization": f"Bearer {TOKEN}", "Origin": settings.temporal_ui_url}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    decoded = await http.post("/decode", content=body, headers=headers)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert decoded.status_code == 200, decoded.text
            (back,) = json_format.Parse(decoded.text, Payloads()).payloads
            assert json.loads(back.data) == PERSONAL
    finally:
        process.terminate()
        assert process.wait(15) == 0
