"""Stream-entry encoding: one msgspec-JSON payload field per entry, plus optional metadata."""

from __future__ import annotations

from typing import Any

import msgspec

from chimera_workers.errors import PayloadError
from chimera_workers.keys import PAYLOAD_FIELD

_encoder = msgspec.json.Encoder()

Fields = dict[bytes, bytes]


def encode_payload(event: msgspec.Struct) -> bytes:
    """Encode ``event`` as the bytes stored in an entry's payload field."""
    return _encoder.encode(event)


def entry_fields(event: msgspec.Struct) -> dict[bytes, bytes]:
    """Build the fields of a new stream entry carrying ``event``."""
    return {PAYLOAD_FIELD: _encoder.encode(event)}


def decode_entry(
    decoder: msgspec.json.Decoder[Any], stream: str, entry_id: str, fields: Fields
) -> Any:
    """Decode an entry's payload with the stream's decoder; raise ``PayloadError`` saying where."""
    raw = fields.get(PAYLOAD_FIELD)
    if raw is None:
        raise PayloadError(f"{stream} {entry_id}: entry has no payload field {PAYLOAD_FIELD!r}")
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PayloadError(f"{stream} {entry_id}: {exc}") from exc


def validate_json(decoder: msgspec.json.Decoder[Any], raw: bytes | str, where: str) -> Any:
    """Validate untrusted JSON against a stream's type; raise ``PayloadError`` naming ``where``."""
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PayloadError(f"{where}: {exc}") from exc
