"""The real AMI message mix, from the recorded traces, looped with fresh unique ids.

The live traffic of the lab recordings (`ingest.traces`: every event that does
not answer an action of the recording client) is the mix: about half of it is
of kinds the service ignores (``VarSet``, ``Newexten``, ``Dial*``,
``Bridge*`` …). Looping it would repeat the same calls, so each loop gets
fresh ids: every Uniqueid/Linkedid (``1795696328.12``) gets the loop number
appended, every channel's sequence number (``@callers-0000000a;1``) is moved
on by the loop. Member and queue names stay: the same call centre, new calls.

`MixStream` renders the bytes once; `event_mask` keeps what an Asterisk with
that Login ``Events:`` mask would send (by the ``Privilege`` classes).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.ami.message import AmiMessage
from ingest.ami.relevance import WANTED_EVENTS
from ingest.traces import load_jsonl, trace_names
from simulator.wire import serialize

_UNIQUEID = re.compile(rb"\b(\d{9,11}\.\d+)\b")
_CHANNEL_SEQUENCE = re.compile(rb"-([0-9a-f]{8});")
_WANTED_LOWER = frozenset(name.lower() for name in WANTED_EVENTS)
# What every login brings, not call traffic: looping them would fake a restart per loop.
_SESSION_EVENTS = frozenset({"FullyBooted", "SuccessfulAuth"})


def live_messages(names: Iterable[str] | None = None) -> list[AmiMessage]:
    """The recorded events nobody asked for (no ActionID), in order, trace after trace;
    the login's own FullyBooted and SuccessfulAuth left out."""
    messages: list[AmiMessage] = []
    for name in names if names is not None else trace_names():
        for _, message in load_jsonl(name):
            event = message.get("Event")
            if event and event not in _SESSION_EVENTS and "ActionID" not in message:
                messages.append(message)
    return messages


def is_wanted(message: AmiMessage) -> bool:
    """Whether the service uses this event (its kind is in the allow-list)."""
    return str(message.get("Event", "")).lower() in _WANTED_LOWER


def sent_with_mask(message: AmiMessage, mask: frozenset[str] | None) -> bool:
    """Whether Asterisk sends `message` to a session with this event mask (None: all)."""
    if mask is None:
        return True
    privilege = str(message.get("Privilege", ""))
    classes = {part for part in privilege.split(",") if part and part != "all"}
    return not classes or bool(classes & mask)


@dataclass(frozen=True, slots=True)
class MixStream:
    """One loop of the mix as bytes, and what is in it."""

    loop_bytes: bytes
    messages: int
    wanted: int
    kinds: dict[str, int]

    @property
    def ignored_share(self) -> float:
        """The share of messages of kinds the service ignores."""
        return 1 - self.wanted / self.messages if self.messages else 0.0

    def render(self, loop: int) -> bytes:
        """Loop number `loop` of the mix, with ids no other loop has."""
        suffix = b"%06d" % loop
        text = _UNIQUEID.sub(lambda m: m.group(1) + suffix, self.loop_bytes)
        return _CHANNEL_SEQUENCE.sub(
            lambda m: b"-%08x;" % ((int(m.group(1), 16) + (loop << 12)) & 0xFFFFFFFF), text
        )


def mix_stream(mask: frozenset[str] | None = None) -> MixStream:
    """The recorded live traffic as Asterisk would send it with `mask` (None: every class)."""
    messages = [m for m in live_messages() if sent_with_mask(m, mask)]
    kinds = Counter(str(m.get("Event")) for m in messages)
    return MixStream(
        loop_bytes=b"".join(serialize(m) for m in messages),
        messages=len(messages),
        wanted=sum(1 for m in messages if is_wanted(m)),
        kinds=dict(kinds.most_common()),
    )


def main() -> int:
    """Print the proportions of the recorded mix, without and with our mask."""
    from ingest.ami.relevance import DEFAULT_EVENT_CLASSES

    for label, mask in (
        ("Events: on", None),
        (f"Events: {DEFAULT_EVENT_CLASSES}", frozenset(DEFAULT_EVENT_CLASSES.split(","))),
    ):
        stream = mix_stream(mask)
        print(
            f"{label}: {stream.messages} messages a loop, {stream.wanted} used,"
            f" {100 * stream.ignored_share:.1f} % ignored, {len(stream.loop_bytes):,} bytes"
        )
        for kind, count in stream.kinds.items():
            used = "used" if kind.lower() in _WANTED_LOWER else "ignored"
            print(f"  {kind:<24} {count:>5}  {100 * count / stream.messages:5.1f} %  {used}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
