"""Cut the AMI byte stream into messages, in linear time and bounded memory.

The stream is the banner line (`Asterisk Call Manager/x.y.z`, no blank line
after it), then `Key: Value` lines grouped into messages that each end with an
empty line. `AmiFramer.feed(chunk)` returns the messages the chunk completed.

Decisions:

- Text is decoded as UTF-8 with ``errors="replace"``: values end up in JSON,
  Redis and browsers, which all need valid Unicode; surrogateescape would
  round-trip the bytes but orjson and friends reject lone surrogates. A bad
  byte becomes U+FFFD and the rest of the message survives. Any ASCII-compatible
  encoding can be configured instead.
- A repeated header keeps every value, in order, as a list.
- Lines without ``:`` (the legacy ``--END COMMAND--`` output of ``Command``)
  are kept in `Frame.lines` and counted, never fatal.
- A message larger than ``max_message_size`` is dropped and counted; the
  framer then skips bytes up to the next empty line and carries on from there.
- Every byte is searched once: the search for the end of a message resumes
  where the previous feed stopped (two bytes back, for an ending split between
  feeds), and an oversized message is not kept while it is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.ami.message import AmiMessageDict

if TYPE_CHECKING:
    from ingest.ami.relevance import RawEventFilter

DEFAULT_MAX_MESSAGE_SIZE = 1 << 20
"""1 MiB: the biggest real AMI messages (long CoreShowChannel lists are many
messages, not one) stay far below it."""

# The empty line that ends a message: the newline of the last header line, an
# optional CR, then the empty line's own newline. Bare `\n` endings match too.
_MESSAGE_END = re.compile(rb"\n\r?\n")
# The longest partial `_MESSAGE_END` that can hang off the end of a chunk.
_END_OVERLAP = 2
_BANNER_PREFIX = b"Asterisk Call Manager/"
# Asterisk writes the Event header first, in this spelling; a frame in any other
# shape is decoded in full and left to the parser.
_EVENT_PREFIX = b"Event: "
_ACTION_ID = b"ActionID:"


@dataclass(frozen=True, slots=True)
class Frame:
    """One message of the stream.

    The banner is a frame too, with ``banner=True`` and headers
    ``{"Banner": "Asterisk Call Manager/11.0.0"}``, so a stream maps one to one
    onto the recorded ``.jsonl`` traces.
    """

    headers: AmiMessageDict
    lines: tuple[str, ...] = ()
    """Lines without ``:``, in order (legacy ``Command`` output)."""
    banner: bool = False


@dataclass(slots=True)
class FramerStats:
    """Counters of one framer; pass the same object to several framers to sum them."""

    messages: int = 0
    banners: int = 0
    filtered: int = 0
    """Events dropped unread by the raw `Event:` pre-filter (not in `messages`)."""
    oversized: int = 0
    lines_without_colon: int = 0
    bytes_fed: int = 0
    bytes_scanned: int = 0
    """Bytes the end-of-message search looked at: stays within a few bytes per
    feed of `bytes_fed`, which is what keeps framing linear."""


@dataclass(slots=True)
class AmiFramer:
    """Incremental AMI framer: ``feed(bytes) -> list[Frame]``. Pure, no I/O.

    ``expect_banner=False`` is for a stream picked up after its first line
    (replays, tests); otherwise the first line is the banner when it is not a
    ``Key: Value`` header or starts with ``Asterisk Call Manager/``.

    With an ``event_filter``, an event frame whose ``Event:`` name it does not
    want (and that carries no ``ActionID``) is dropped before it is decoded.
    """

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    encoding: str = "utf-8"
    expect_banner: bool = True
    stats: FramerStats = field(default_factory=FramerStats)
    event_filter: RawEventFilter | None = None
    _buffer: bytearray = field(default_factory=bytearray, init=False, repr=False)
    # Offset in `_buffer` before which no message end can start.
    _searched: int = field(default=0, init=False, repr=False)
    _skipping: bool = field(default=False, init=False, repr=False)
    # The last bytes skipped, to find an empty line split between two feeds.
    _skipped_tail: bytes = field(default=b"", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_message_size < 1:
            raise ValueError("max_message_size must be positive")

    @property
    def buffered(self) -> int:
        """Bytes held for the message in progress (bounded by the size cap)."""
        return len(self._buffer) + len(self._skipped_tail)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Take the next bytes of the stream; return the messages they complete."""
        view = memoryview(data).cast("B")
        self.stats.bytes_fed += len(view)
        if self._skipping:
            resume = self._skip_oversized(view)
            if resume is None:
                return []
            view = view[resume:]
        self._buffer += view
        frames: list[Frame] = []
        start = 0
        if self.expect_banner:
            start = self._take_banner(frames)
            if self.expect_banner:  # the first line is still incomplete
                self._keep_or_skip(0)
                return frames
        buffer = self._buffer
        while True:
            search_from = max(start, self._searched)
            match = _MESSAGE_END.search(buffer, search_from)
            self.stats.bytes_scanned += (match.end() if match else len(buffer)) - search_from
            if match is None:
                break
            end = match.end()
            if end - start > self.max_message_size:
                self.stats.oversized += 1
            elif self.event_filter is not None and self._unwanted(buffer, start, match.start()):
                self.stats.filtered += 1
            else:
                frame = self._decode(buffer, start, match.start())
                if frame is not None:
                    self.stats.messages += 1
                    frames.append(frame)
            start = self._searched = end
        self._keep_or_skip(start)
        return frames

    def _take_banner(self, frames: list[Frame]) -> int:
        """Emit the banner once its line is complete; return where messages start."""
        newline = self._buffer.find(b"\n", self._searched)
        self.stats.bytes_scanned += (newline + 1 if newline >= 0 else len(self._buffer)) - (
            self._searched
        )
        if newline < 0:
            self._searched = len(self._buffer)
            return 0
        self.expect_banner = False
        self._searched = 0
        if newline > self.max_message_size:
            # Too long for a banner: drop it with the first message, the same
            # way a stream fed in small pieces would.
            return 0
        line = bytes(self._buffer[:newline]).removesuffix(b"\r")
        if not line or (b":" in line and not line.startswith(_BANNER_PREFIX)):
            return 0  # no banner: this line belongs to the first message
        text = line.decode(self.encoding, "replace")
        self.stats.banners += 1
        frames.append(Frame(headers={"Banner": text}, banner=True))
        return newline + 1

    def _keep_or_skip(self, start: int) -> None:
        """Keep the unfinished message, or drop it when it is already too big."""
        pending = len(self._buffer) - start
        if pending > self.max_message_size:
            self.stats.oversized += 1
            self._skipping = True
            self.expect_banner = False
            self._skipped_tail = bytes(self._buffer[-_END_OVERLAP:])
            self._buffer.clear()
            self._searched = 0
            return
        if start:
            del self._buffer[:start]
            self._searched = max(0, self._searched - start)
        # Everything now buffered was searched; only a split ending can remain.
        if not self.expect_banner:
            self._searched = max(0, len(self._buffer) - _END_OVERLAP)

    def _skip_oversized(self, view: memoryview) -> int | None:
        """Skip to just past the next empty line; None while it has not come."""
        tail = self._skipped_tail
        # An empty line that started in the previous feed ends in this one.
        joint = tail + bytes(view[:_END_OVERLAP])
        match = _MESSAGE_END.search(joint)
        if match is not None and match.start() < len(tail):
            resume = match.end() - len(tail)
        else:
            match = _MESSAGE_END.search(view)
            self.stats.bytes_scanned += match.end() if match else len(view)
            if match is None:
                self._skipped_tail = (tail + bytes(view[-_END_OVERLAP:]))[-_END_OVERLAP:]
                return None
            resume = match.end()
        self._skipping = False
        self._skipped_tail = b""
        return resume

    def _unwanted(self, buffer: bytearray, start: int, stop: int) -> bool:
        """Whether the frame is an event the filter drops, read off its first line."""
        if not buffer.startswith(_EVENT_PREFIX, start, stop):
            return False
        line_end = buffer.find(b"\n", start, stop)
        name = bytes(buffer[start + len(_EVENT_PREFIX) : stop if line_end < 0 else line_end])
        name = name.rstrip(b"\r ")
        event_filter = self.event_filter
        assert event_filter is not None
        if event_filter.wants(name) or buffer.find(_ACTION_ID, start, stop) >= 0:
            return False
        event_filter.count_dropped(name)
        return True

    def _decode(self, buffer: bytearray, start: int, stop: int) -> Frame | None:
        """Turn the bytes of one message (without its empty line) into a frame."""
        text = buffer[start:stop].decode(self.encoding, "replace")  # one copy, not two
        headers: AmiMessageDict = {}
        loose: list[str] = []
        for raw_line in text.split("\n"):
            line = raw_line.removesuffix("\r")
            if not line:
                continue
            key, colon, value = line.partition(":")
            if not colon or not key:
                loose.append(line)
                continue
            # `Key: Value` — exactly the one space after the colon is syntax.
            value = value.removeprefix(" ")
            previous = headers.get(key)
            if previous is None:
                headers[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                headers[key] = [previous, value]
        if loose:
            self.stats.lines_without_colon += len(loose)
        if not headers and not loose:
            return None
        return Frame(headers=headers, lines=tuple(loose))
