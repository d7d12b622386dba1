"""Item 9: the AMI framing under fuzzing.

- Arbitrary bytes, cut at arbitrary places: `AmiFramer` never raises, and the
  frames (and what it counted) do not depend on the cuts — also with a tiny
  size cap, so the skip-an-oversized-message path is fuzzed too.
- `SafeAMIProtocol.data_received` never raises, whatever arrives.
- A 4 MiB message without an end is dropped in linear time: each byte is
  searched once, the buffer never holds more than the cap, and the message
  after it is framed normally.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.ami.framing import AmiFramer, Frame
from ingest.ami.protocol import SafeAMIProtocol
from tests.reliability.env import record, timing_goal

MiB = 1 << 20

# Bytes that matter to the framer, mixed with anything at all.
_PIECES = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"\n\n",
        b": ",
        b":",
        b"Event: QueueMemberStatus",
        b"Response: Success",
        b"ActionID: 1",
        b"Asterisk Call Manager/11.0.0\r\n",
        b"\xff\xfe",
        b"\x00",
        b"Key: " + b"v" * 70,
    ]
)
STREAMS = st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=60).map(b"".join)


def frames_of(data: bytes, cuts: list[int], cap: int) -> tuple[list[Frame], tuple[int, int, int]]:
    framer = AmiFramer(max_message_size=cap)
    frames: list[Frame] = []
    position = 0
    for cut in sorted(cuts):
        frames += framer.feed(data[position:cut])
        position = cut
    frames += framer.feed(data[position:])
    stats = framer.stats
    assert framer.buffered <= cap + 2
    return frames, (stats.messages, stats.oversized, stats.banners)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=2400), max_size=30))
def test_chunking_changes_nothing(data: bytes, cuts: list[int]) -> None:
    cuts = [c for c in cuts if c <= len(data)]
    for cap in (1 << 20, 64):
        whole, whole_stats = frames_of(data, [], cap)
        pieces, piece_stats = frames_of(data, cuts, cap)
        assert pieces == whole
        assert piece_stats == whole_stats


class _Factory:
    """Just enough of panoramisk's Manager for the protocol to dispatch to."""

    def __init__(self) -> None:
        self.dispatched = 0
        self.forgetable_actions = ()
        self.awaiting_actions: list[Any] = []

    def dispatch(self, message: Any) -> None:
        self.dispatched += 1

    def connection_lost(self, exc: Any) -> None:
        pass


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


@settings(max_examples=300, deadline=None)
@given(data=STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=2400), max_size=20))
def test_the_protocol_never_raises(data: bytes, cuts: list[int]) -> None:
    protocol = SafeAMIProtocol(max_message_size=256)
    protocol.factory = _Factory()
    protocol.connection_made(_Transport())  # type: ignore[arg-type]
    position = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        protocol.data_received(data[position:cut])
        position = cut
    protocol.data_received(data[position:])


def _drop(size: int, chunk: int = 64 * 1024) -> tuple[float, AmiFramer, list[Frame]]:
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    line = b"Junk: " + b"x" * 1000 + b"\r\n"
    body = line * (size // len(line))
    started = time.perf_counter()
    frames: list[Frame] = []
    for at in range(0, len(body), chunk):
        frames += framer.feed(body[at : at + chunk])
        assert framer.buffered <= framer.max_message_size + 2
    frames += framer.feed(b"\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    return time.perf_counter() - started, framer, frames


def test_a_4_mib_message_is_dropped_in_linear_time() -> None:
    took, framer, frames = _drop(4 * MiB)
    assert [f.headers for f in frames] == [{"Event": "FullyBooted", "Status": "Fully Booted"}]
    assert framer.stats.oversized == 1
    # Linear: every byte searched about once (a few bytes per feed overlap).
    assert framer.stats.bytes_scanned <= framer.stats.bytes_fed + 4 * 100
    took16, framer16, _ = _drop(16 * MiB)
    assert framer16.stats.bytes_scanned <= framer16.stats.bytes_fed + 4 * 400
    ratio = took16 / max(took, 1e-6)
    timing_goal(ratio < 8, f"16 MiB takes {ratio:.1f}× the time of 4 MiB (linear: ~4×)")
    timing_goal(took < 0.5, f"4 MiB dropped in {took * 1000:.0f} ms")
    record(
        "9",
        "AMI framing fuzz: 400 streams × arbitrary cuts (1 MiB and 64 B caps), "
        "protocol fuzz ×300, a 4 MiB message",
        "no exception, chunking changes nothing, 4 MiB dropped in linear time",
        fourMiBMs=round(took * 1000, 1),
        sixteenMiBMs=round(took16 * 1000, 1),
        bytesScannedPerByte=round(framer16.stats.bytes_scanned / framer16.stats.bytes_fed, 4),
        oversizedDropped=framer.stats.oversized,
    )
