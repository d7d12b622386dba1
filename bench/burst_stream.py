"""A busy queue's AMI burst, from recorded Asterisk 22 sessions looped with fresh ids.

The recordings (`ingest.traces`: calls answered, rung without answer, abandoned,
members added and paused, a realtime queue) hold about 1,100 unsolicited events
in all. Looped as many times as needed, each pass with its own channel names
and unique ids (so every pass is new calls, never a replay of the last one's),
they make a stream of any length with the mix of a busy site: mostly
`VarSet`/`Newexten`/device-state noise around the queue events the ingest keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ingest import traces
from ingest.ami.message import AmiMessageDict
from simulator.wire import serialize

BURST_TRACES = ("b_single_call", "c_ringnoanswer", "d_abandon", "e_member_admin", "h_realtime")
"""The recordings looped (a_startup is only the lab's start: its lists, no traffic)."""
_SESSION_EVENTS = frozenset({"FullyBooted", "SuccessfulAuth"})
"""What a login, not a call, sends: once per connection, not per pass."""
# `PJSIP/1001-0000002a` or `Local/support@callers-00000000;1`: the 8 hex digits are the
# channel's number; a pass rewrites their first four.
_CHANNEL_NUMBER = re.compile(r"-([0-9a-f]{8})(;\d)?$")


def recorded_events() -> list[AmiMessageDict]:
    """The unsolicited events of `BURST_TRACES`, in recorded order."""
    events: list[AmiMessageDict] = []
    for name in BURST_TRACES:
        for _ts, message in traces.read_jsonl(traces.resolve(name)):
            event = message.get("Event")
            quiet = "ActionID" not in message  # not an answer to the recording's driver
            if isinstance(event, str) and quiet and event not in _SESSION_EVENTS:
                events.append(message)
    return events


def _renamed(message: AmiMessageDict, loop: int) -> AmiMessageDict:
    """`message` as pass `loop` sends it: its channels and unique ids its own."""
    out: AmiMessageDict = {}
    for key, value in message.items():
        lowered = key.lower()
        if isinstance(value, str):
            if lowered.endswith(("uniqueid", "linkedid")) and value:
                value = f"{value}{loop:05d}"
            elif lowered.endswith("channel") and value:
                value = _CHANNEL_NUMBER.sub(
                    lambda m: f"-{loop:04x}{m.group(1)[4:]}{m.group(2) or ''}", value
                )
        out[key] = value
    return out


def burst_messages(count: int) -> Iterator[AmiMessageDict]:
    """`count` events: the recordings, pass after pass."""
    recorded = recorded_events()
    if not recorded:
        raise RuntimeError("no recorded AMI events found (ingest/traces)")
    loop = 0
    sent = 0
    while sent < count:
        for message in recorded:
            if sent >= count:
                return
            yield _renamed(message, loop)
            sent += 1
        loop += 1


def burst_chunks(count: int, chunk_bytes: int = 64 * 1024) -> list[bytes]:
    """The burst's bytes in chunks of whole messages (an answer to an action may go
    between two chunks, never inside a message)."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for message in burst_messages(count):
        encoded = serialize(message)
        current.append(encoded)
        size += len(encoded)
        if size >= chunk_bytes:
            chunks.append(b"".join(current))
            current, size = [], 0
    if current:
        chunks.append(b"".join(current))
    return chunks
