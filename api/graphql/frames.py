"""Ready-made WebSocket frames for the fan-out, and a socket they can be written to directly.

A thousand members of a group send the same message, and most of them under the
same operation id (clients number their first subscription "1"). Going through
ASGI for each — a coroutine, uvicorn's `send`, the websockets library building a
`Frame`, serializing it into a `BytesIO`, joining its output — cost ~4.5 µs of
Python per socket and message; a direct write of ready-made bytes ~1.3 µs (then
the kernel's send, ~5–10 µs on loopback). So the fan-out builds each message's frame once per
operation id (`SharedFrames`), byte for byte what uvicorn would have written
(an unmasked, final text frame, RFC 6455 §5.2: no extension is negotiated, as
per-message deflate is off), and a member whose socket allows it writes those
bytes to its transport (`frame_sink`, `api.websocket_protocol`).

A direct write is only taken when the socket is open and its transport is not
over its high-water mark; otherwise (a slow reader) the member's frames queue,
bounded, behind a task that waits until the socket can take them
(`api.graphql.members`) — the same bytes, never a copy per socket.
Pings, pongs, the close handshake and every other message stay uvicorn's: they
write to the same transport, so the order on the wire is the order of the calls.
"""

from __future__ import annotations

import struct
from typing import Protocol

from api.websocket_protocol import LeanWebSocketProtocol


class FrameSink(Protocol):
    """A socket that takes ready-made frames (`api.websocket_protocol`)."""

    def write_frame(self, frame: bytes) -> bool:
        """Write the frame now; False (nothing written) when the socket cannot take it now."""
        ...

    async def wait_writable(self) -> None:
        """Until the socket can take a frame; raises once it is gone."""
        ...


_FIN_TEXT = 0x81


class Framing(Protocol):
    """How one operation's messages are wrapped (`api.graphql.members.Envelope`)."""

    @property
    def head(self) -> str:
        """The text before the payload."""
        ...

    @property
    def tail(self) -> str:
        """The text after the payload."""
        ...


def text_frame(text: str) -> bytes:
    """A server's (unmasked) final text frame carrying `text`."""
    data = text.encode()
    length = len(data)
    if length < 126:
        header = struct.pack("!BB", _FIN_TEXT, length)
    elif length < 65536:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + data


class SharedFrames:
    """One message of a group as frames, built once per envelope (operation id)."""

    __slots__ = ("_by_head", "payload")

    def __init__(self, payload: str) -> None:
        self.payload = payload
        self._by_head: dict[str, bytes] = {}

    def frame(self, envelope: Framing) -> bytes:
        """The whole frame of this message for `envelope`."""
        head = envelope.head
        frame = self._by_head.get(head)
        if frame is None:
            frame = text_frame(head + self.payload + envelope.tail)
            self._by_head[head] = frame
        return frame


def frame_sink(server_send: object) -> FrameSink | None:
    """The socket behind `server_send` (the server's ASGI `send`) as a `FrameSink`: our
    uvicorn protocol; None for any other server or protocol, or a socket with an
    extension negotiated (its frames would differ): those go through `send`."""
    protocol = getattr(server_send, "__self__", None)
    if not isinstance(protocol, LeanWebSocketProtocol) or protocol.conn.extensions:
        return None
    return protocol
