"""Records as compact JSON and back: what the durable buffer (a Redis stream) holds.

One record is one JSON object: ``"t"`` says which kind (``c`` a `CallRecord`,
``i`` an `AgentInterval`), every other key is a field of that dataclass under
its own name, enums by value. Decoding checks the kind and the fields (an
entry written by another version or by hand raises `RecordDecodeError`, so
the drainer can set it aside instead of failing the batch).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson

from ingest.records.model import AgentInterval, CallOutcome, CallRecord, IntervalKind, Record

__all__ = ["RecordDecodeError", "decode_record", "encode_record"]

_KINDS: dict[str, type[CallRecord] | type[AgentInterval]] = {"c": CallRecord, "i": AgentInterval}
_TAGS = {CallRecord: "c", AgentInterval: "i"}
_FIELDS = {kind: tuple(f.name for f in fields(kind)) for kind in (CallRecord, AgentInterval)}


class RecordDecodeError(ValueError):
    """A buffer entry that is not a record this version can read."""


def encode_record(record: Record) -> bytes:
    """The JSON of one record (orjson writes enums by their value)."""
    kind = type(record)
    body: dict[str, Any] = {"t": _TAGS[kind]}
    for name in _FIELDS[kind]:
        body[name] = getattr(record, name)
    return orjson.dumps(body)


def decode_record(raw: bytes | str) -> Record:
    """The record `encode_record` wrote; RecordDecodeError for anything else."""
    try:
        body = orjson.loads(raw)
        kind = _KINDS[body.pop("t")]
        values = {name: body[name] for name in _FIELDS[kind] if name in body}
        if kind is CallRecord:
            values["outcome"] = CallOutcome(values["outcome"])
            return CallRecord(**values)
        values["kind"] = IntervalKind(values["kind"])
        return AgentInterval(**values)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordDecodeError(f"not a record ({type(exc).__name__})") from None
