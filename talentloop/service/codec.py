"""Encrypting Temporal payloads: an AES-256-GCM payload codec with key rotation.

Workflow inputs, signals, activity results, queries and failure messages carry names, emails,
ratings and review comments; Temporal keeps them in its history. With keys configured
(``TALENTLOOP_PAYLOAD_KEYS``), every payload a talentloop client or worker writes is encrypted
with the active key (``TALENTLOOP_PAYLOAD_KEY_ID``) and names that key's id in its metadata;
every configured key decrypts, so payloads written before a rotation stay readable. Payloads
without the codec's metadata (written before encryption was turned on) pass through unchanged.
With no key configured, nothing is encrypted.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from talentloop.errors import TalentloopError

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""
KEY_ID = "encryption-key-id"
"""The metadata entry naming the key a payload was encrypted with."""
KEY_BYTES = 32
NONCE_BYTES = 12


class PayloadKeyProblem(TalentloopError, ValueError):
    """The payload keys are malformed, or a payload names a key that is not configured."""


def parse_keys(text: str) -> dict[str, bytes]:
    """The keys of ``TALENTLOOP_PAYLOAD_KEYS``: ``id:base64key`` pairs, comma-separated.

    Args:
        text: E.g. ``2026a:<44 base64 characters>,2026b:<...>``; whitespace and newlines
            between pairs are allowed (a key file).

    Returns:
        The 32-byte keys by id.

    Raises:
        PayloadKeyProblem: If a pair is malformed, a key is not 32 bytes of base64, or an id
            repeats. The message never quotes a key.
    """
    keys: dict[str, bytes] = {}
    for raw in text.replace("\n", ",").split(","):
        pair = raw.strip()
        if not pair:
            continue
        key_id, sep, encoded = pair.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not encoded.strip():
            raise PayloadKeyProblem("each payload key must be written id:base64key")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyProblem(f"payload key {key_id!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise PayloadKeyProblem(
                f"payload key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            )
        if key_id in keys:
            raise PayloadKeyProblem(f"payload key id {key_id!r} is given twice")
        keys[key_id] = key
    return keys


def new_key_line(key_id: str) -> str:
    """A fresh random key as one ``id:base64key`` pair (`talentloop codec-key`)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class AesGcmCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload; the key id in clear metadata.

    Each payload gets a random 96-bit nonce; the key id is authenticated as associated data,
    so a payload cannot be passed off as encrypted under another key.
    """

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        """Build the codec.

        Args:
            keys: Every key that may decrypt, by id (old ones after a rotation).
            active: The id of the key new payloads are encrypted with.

        Raises:
            PayloadKeyProblem: If ``active`` is not among ``keys``.
        """
        if active not in keys:
            raise PayloadKeyProblem(f"the active payload key id {active!r} is not configured")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active

    @property
    def active_key_id(self) -> str:
        """The id of the key new payloads are encrypted with."""
        return self._active

    def encrypt(self, payload: Payload) -> Payload:
        """One payload encrypted with the active key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._active].encrypt(
            nonce, payload.SerializeToString(), self._active.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._active.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload decrypted; a payload that is not encrypted is returned unchanged.

        Raises:
            PayloadKeyProblem: If the payload names a key that is not configured, or does not
                authenticate under it.
        """
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyProblem(f"payload encrypted with unknown key id {key_id!r}")
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadKeyProblem(
                f"payload does not authenticate under key id {key_id!r}"
            ) from None
        inner = Payload()
        inner.ParseFromString(plain)
        return inner

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass the others through."""
        return [self.decrypt(p) for p in payloads]


class KeylessCodec(PayloadCodec):
    """The codec of a process without payload keys: nothing encrypted, nothing decrypted.

    Plain payloads pass both ways; an encrypted one it is asked to read fails with a message
    that says which key it needs, instead of the payload converter's "unknown encoding".
    """

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Leave the payloads as they are."""
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Pass plain payloads through; refuse encrypted ones, naming their key id.

        Raises:
            PayloadKeyProblem: If a payload is encrypted.
        """
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
                raise PayloadKeyProblem(
                    f"payload encrypted with key id {key_id!r} and no payload key is "
                    "configured: set TALENTLOOP_PAYLOAD_KEYS (docs/privacy.md)"
                )
        return list(payloads)


def codec_from(keys_text: str | None, active: str | None) -> AesGcmCodec | None:
    """The codec for the configured keys, or ``None`` when no key is configured.

    Args:
        keys_text: ``TALENTLOOP_PAYLOAD_KEYS`` (id:base64key pairs), or ``None``.
        active: ``TALENTLOOP_PAYLOAD_KEY_ID``; may be left out when there is one key.

    Raises:
        PayloadKeyProblem: If the keys are malformed, or several are given without the
            active id.
    """
    keys = parse_keys(keys_text or "")
    if not keys:
        if active:
            raise PayloadKeyProblem("a payload key id is set but no payload key")
        return None
    if active is None:
        if len(keys) > 1:
            raise PayloadKeyProblem("several payload keys: set which one encrypts (the key id)")
        (active,) = keys
    return AesGcmCodec(keys, active)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic data converter, with ``codec`` and failure messages encoded by it.

    Without a codec, payloads and failures are written in plain as before encryption existed;
    reading an encrypted payload then fails with a message naming the key it needs.
    """
    if codec is None:
        return dataclasses.replace(pydantic_data_converter, payload_codec=KeylessCodec())
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
