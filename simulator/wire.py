"""AMI framing for the simulator: ``Key: Value`` lines, a blank line ends a message.

This is the server's side of the protocol: it serializes what the simulator
sends and parses the actions clients send. A repeated key becomes several
lines when its value is a list, and a list again when parsed. Values are
never allowed to contain CR or LF: one stray line break would split a message
and silently inject headers into the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ingest.ami.message import AmiMessage, AmiMessageDict

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
"""The greeting Asterisk 12+ sends first (AMI protocol version, not Asterisk's)."""

Value = str | list[str]
"""A header's value; a repeated header holds the list of its values, in order."""

CHANNEL_KEYS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
"""The channel fields every channel, caller and agent event carries, in wire order."""

_TERMINATOR = b"\r\n\r\n"
_FORBIDDEN = ("\r", "\n")


class WireError(ValueError):
    """A message cannot be put on, or read from, the wire."""


_known_keys: set[str] = set()
"""Header names already validated: the vocabulary is small, the check is hot."""


def _check_key(key: str) -> None:
    if key in _known_keys:
        return
    if not key or ":" in key or key != key.strip() or any(ch in key for ch in _FORBIDDEN):
        raise WireError(f"invalid AMI header name: {key!r}")
    if len(_known_keys) < 4096:
        _known_keys.add(key)


def serialize(message: AmiMessage) -> bytes:
    """Encode one message, terminated by its blank line."""
    parts: list[str] = []
    for key, value in message.items():
        _check_key(key)
        if isinstance(value, str):
            parts.append(f"{key}: {value}\r\n")
        else:
            parts.extend(f"{key}: {item}\r\n" for item in value)
    lines = len(parts) + 1
    parts.append("\r\n")
    text = "".join(parts)
    # Counting line breaks over the whole text is cheaper than testing every
    # value, and catches a CR or LF anywhere.
    if text.count("\n") != lines or text.count("\r") != lines:
        bad = next(k for k, v in message.items() if any(c in "".join(v) for c in _FORBIDDEN))
        raise WireError(f"CR/LF in the value of {bad!r}")
    return text.encode()


def serialize_many(messages: Iterable[AmiMessage]) -> bytes:
    """Encode several messages into one buffer, ready for a single write."""
    return b"".join(serialize(message) for message in messages)


def _add(message: AmiMessageDict, key: str, value: str) -> None:
    previous = message.get(key)
    if previous is None:
        message[key] = value
    elif isinstance(previous, list):
        previous.append(value)
    else:
        message[key] = [previous, value]


def parse_lines(lines: Iterable[str]) -> AmiMessageDict:
    """Build a message from its ``Key: Value`` lines (no blank line).

    Like Asterisk, a line without a colon is ignored and the value loses its
    leading blanks.
    """
    message: AmiMessageDict = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            continue
        _add(message, key.strip(), value.lstrip(" \t"))
    return message


def parse(block: bytes | str) -> AmiMessageDict:
    """Parse one message; a trailing blank line is allowed."""
    text = block.decode(errors="replace") if isinstance(block, bytes) else block
    return parse_lines(text.replace("\r\n", "\n").split("\n"))


class MessageParser:
    """Incremental parser for what a peer sends: feed bytes, get whole messages.

    Lines may end in CRLF or a bare LF (people type actions in telnet). A
    message that grows past ``max_message`` bytes without its blank line
    raises :class:`WireError`, so a client cannot make the server buffer
    without bound.
    """

    def __init__(self, max_message: int = 64 * 1024) -> None:
        self._max = max_message
        self._partial = b""
        self._lines: list[str] = []
        self._size = 0

    def feed(self, data: bytes) -> list[AmiMessageDict]:
        """Consume ``data`` and return the messages it completed."""
        done: list[AmiMessageDict] = []
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()
        for raw in chunks:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line:
                self._size += len(line)
                self._lines.append(line.decode(errors="replace"))
            elif self._lines:
                done.append(parse_lines(self._lines))
                self._lines = []
                self._size = 0
        if self._size + len(self._partial) > self._max:
            raise WireError("AMI message too long")
        return done


async def read_message(reader: asyncio.StreamReader) -> AmiMessageDict:
    """Read the next CRLF-framed message from a stream (client side of a test)."""
    block = await reader.readuntil(_TERMINATOR)
    return parse(block)


def header(message: AmiMessage, name: str) -> str:
    """Value of header ``name``, case-insensitively as Asterisk reads it; ``""`` when absent.

    A repeated header yields its first value.
    """
    value = message.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in message.items() if k.lower() == lowered), None)
    if value is None:
        return ""
    return value if isinstance(value, str) else (value[0] if value else "")
