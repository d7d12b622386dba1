"""AmiFramer: recorded streams, chunking, repeated headers, bad bytes, size cap."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.ami.framing import AmiFramer, Frame
from ingest.ami.message import AmiMessageDict
from ingest.traces import load_jsonl, trace_names
from tests.support.traces import load_raw

TRACES = trace_names()
MiB = 1 << 20


def feed_chunks(framer: AmiFramer, data: bytes, sizes: list[int]) -> list[Frame]:
    """Feed ``data`` cut into consecutive pieces of ``sizes`` (the rest in one)."""
    frames: list[Frame] = []
    pos = 0
    for size in sizes:
        frames += framer.feed(data[pos : pos + size])
        pos += size
    frames += framer.feed(data[pos:])
    return frames


def random_sizes(rng: random.Random, total: int, max_chunk: int) -> list[int]:
    sizes: list[int] = []
    covered = 0
    while covered < total:
        sizes.append(rng.randint(1, max_chunk))
        covered += sizes[-1]
    return sizes


def headers(frames: list[Frame]) -> list[AmiMessageDict]:
    return [frame.headers for frame in frames]


def recorded(name: str) -> list[AmiMessageDict]:
    return [message for _, message in load_jsonl(name)]


def test_traces_are_present() -> None:
    assert len(TRACES) >= 6


# --- recorded streams ---------------------------------------------------------


@pytest.mark.parametrize("name", TRACES)
def test_trace_in_one_feed_gives_the_recorded_messages(name: str) -> None:
    framer = AmiFramer()
    frames = framer.feed(load_raw(name))
    expected = recorded(name)
    assert headers(frames) == expected
    banner = frames[0].headers["Banner"]
    assert frames[0].banner and isinstance(banner, str)
    assert banner.startswith("Asterisk Call Manager/")
    assert not any(frame.banner for frame in frames[1:])
    assert framer.stats.messages == len(expected) - 1
    assert framer.stats.banners == 1
    assert framer.stats.oversized == framer.stats.lines_without_colon == 0
    assert framer.buffered == 0


@pytest.mark.parametrize("name", TRACES)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**64), max_chunk=st.sampled_from([3, 40, 1500, 70000]))
def test_trace_in_random_chunks_gives_the_recorded_messages(
    name: str, seed: int, max_chunk: int
) -> None:
    data = load_raw(name)
    framer = AmiFramer()
    # A seed, not drawn sizes: thousands of cuts would swamp Hypothesis.
    sizes = random_sizes(random.Random(seed), len(data), max_chunk)
    assert headers(feed_chunks(framer, data, sizes)) == recorded(name)
    # Linear: each byte searched once, plus a two-byte overlap per feed.
    assert framer.stats.bytes_scanned <= len(data) + 2 * (len(sizes) + 1)


def test_trace_byte_by_byte() -> None:
    data = load_raw("a_startup")
    framer = AmiFramer()
    assert headers(feed_chunks(framer, data, [1] * len(data))) == recorded("a_startup")


@pytest.mark.parametrize("name", TRACES)
def test_trace_with_bare_lf_endings(name: str) -> None:
    data = load_raw(name).replace(b"\r\n", b"\n")
    assert headers(AmiFramer().feed(data)) == recorded(name)


def test_mixed_line_endings_end_messages_alike() -> None:
    data = b"Event: A\r\nX: 1\n\r\nEvent: B\nX: 2\r\n\nEvent: C\r\n\r\n"
    frames = AmiFramer(expect_banner=False).feed(data)
    assert headers(frames) == [
        {"Event": "A", "X": "1"},
        {"Event": "B", "X": "2"},
        {"Event": "C"},
    ]


# --- banner -------------------------------------------------------------------


def test_banner_split_across_feeds() -> None:
    framer = AmiFramer()
    assert framer.feed(b"Asterisk Call Man") == []
    frames = framer.feed(b"ager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\n")
    assert headers(frames) == [
        {"Banner": "Asterisk Call Manager/11.0.0"},
        {"Response": "Success", "ActionID": "1"},
    ]


def test_banner_is_only_the_first_line() -> None:
    data = b"Asterisk Call Manager/9.9\r\nEvent: X\r\n\r\nAsterisk Call Manager/9.9\r\n\r\n"
    frames = AmiFramer().feed(data)
    assert [f.banner for f in frames] == [True, False, False]
    assert frames[2].lines == ("Asterisk Call Manager/9.9",)


def test_stream_without_banner_keeps_its_first_header() -> None:
    frames = AmiFramer().feed(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert headers(frames) == [{"Event": "FullyBooted", "Status": "Fully Booted"}]


def test_expect_banner_false_treats_first_line_as_message() -> None:
    frames = AmiFramer(expect_banner=False).feed(b"Asterisk Call Manager/1\r\n\r\n")
    assert frames == [Frame(headers={}, lines=("Asterisk Call Manager/1",))]


# --- header syntax --------------------------------------------------------------


def test_repeated_headers_keep_every_value_in_order() -> None:
    data = (
        b"Event: Newchannel\r\nEvent: Bogus\r\nChanVariable: a=1\r\n"
        b"ChanVariable: b=2\r\nChanVariable: c=3\r\nUniqueid: 1.2\r\n\r\n"
    )
    (frame,) = AmiFramer(expect_banner=False).feed(data)
    assert frame.headers == {
        "Event": ["Newchannel", "Bogus"],
        "ChanVariable": ["a=1", "b=2", "c=3"],
        "Uniqueid": "1.2",
    }


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        (b"PausedReason: ", "PausedReason", ""),
        (b"PausedReason:", "PausedReason", ""),
        (b"Key:value", "Key", "value"),
        (b"Key:  two spaces", "Key", " two spaces"),
        (b"Message: a: b: c", "Message", "a: b: c"),
        (b"Trailing: x ", "Trailing", "x "),
    ],
)
def test_value_is_everything_after_colon_and_one_space(line: bytes, key: str, value: str) -> None:
    (frame,) = AmiFramer(expect_banner=False).feed(line + b"\r\n\r\n")
    assert frame.headers == {key: value}


def test_non_utf8_bytes_become_replacement_characters() -> None:
    data = b"Event: Newchannel\r\nCallerIDName: Jos\xe9 \xff\xfe\r\nExten: 1\r\n\r\nEvent: Next\r\n\r\n"
    framer = AmiFramer(expect_banner=False)
    frames = framer.feed(data)
    assert headers(frames) == [
        {"Event": "Newchannel", "CallerIDName": "Jos\ufffd \ufffd\ufffd", "Exten": "1"},
        {"Event": "Next"},
    ]
    # Values stay encodable for JSON / Redis (no lone surrogates).
    assert all(v.encode("utf-8") for f in frames for v in f.headers.values() if isinstance(v, str))


def test_utf8_text_is_decoded() -> None:
    (frame,) = AmiFramer(expect_banner=False).feed("CallerIDName: Jörg 王\r\n\r\n".encode())
    assert frame.headers == {"CallerIDName": "Jörg 王"}


def test_lines_without_colon_are_kept_and_counted() -> None:
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"No colon here\r\n--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n"
    )
    framer = AmiFramer(expect_banner=False)
    first, second = framer.feed(data)
    assert first.headers == {"Response": "Follows", "Privilege": "Command", "ActionID": "7"}
    assert first.lines == ("No colon here", "--END COMMAND--")
    assert second.headers == {"Event": "Next"}
    assert framer.stats.lines_without_colon == 2


def test_leading_colon_line_is_not_a_header() -> None:
    (frame,) = AmiFramer(expect_banner=False).feed(b": orphan\r\nEvent: X\r\n\r\n")
    assert frame.headers == {"Event": "X"}
    assert frame.lines == (": orphan",)


def test_stray_blank_lines_between_messages_are_ignored() -> None:
    framer = AmiFramer(expect_banner=False)
    frames = framer.feed(b"\r\n\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n")
    assert headers(frames) == [{"Event": "A"}, {"Event": "B"}]
    assert framer.stats.messages == 2


# --- size cap -------------------------------------------------------------------


def test_four_mib_without_blank_line_is_dropped_and_stream_resyncs() -> None:
    framer = AmiFramer()  # default cap: 1 MiB
    junk = b"Event: Flood\r\n" + b"X" * (4 * MiB)
    started = time.perf_counter()
    frames = framer.feed(b"Asterisk Call Manager/11.0.0\r\n" + junk)
    frames += framer.feed(b"\r\n\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    elapsed = time.perf_counter() - started
    print(f"4 MiB oversized message framed in {elapsed * 1000:.1f} ms")
    assert headers(frames) == [
        {"Banner": "Asterisk Call Manager/11.0.0"},
        {"Event": "FullyBooted", "Status": "Fully Booted"},
    ]
    assert framer.stats.oversized == 1
    assert framer.stats.bytes_scanned <= framer.stats.bytes_fed + 4
    assert framer.buffered == 0


def test_oversized_stream_in_small_chunks_stays_linear_and_bounded() -> None:
    cap = 64 * 1024
    framer = AmiFramer(max_message_size=cap, expect_banner=False)
    chunk = b"Header: " + b"v" * 1015 + b"\r\n"  # 1 KiB of header lines, no blank line
    feeds = 4096  # 4 MiB in total
    peak = 0
    for _ in range(feeds):
        assert framer.feed(chunk) == []
        peak = max(peak, framer.buffered)
    assert framer.feed(b"\r\nEvent: After\r\n\r\n") == [Frame(headers={"Event": "After"})]
    assert framer.stats.oversized == 1
    # Memory stays under the cap plus one chunk; every byte is searched once
    # (plus the two-byte overlap per feed), never the whole buffer again.
    assert peak <= cap + len(chunk)
    assert framer.stats.bytes_scanned <= framer.stats.bytes_fed + 2 * (feeds + 1)


def test_terminated_oversized_message_is_dropped() -> None:
    framer = AmiFramer(max_message_size=100, expect_banner=False)
    big = b"Event: Big\r\nData: " + b"x" * 200 + b"\r\n\r\n"
    frames = framer.feed(b"Event: A\r\n\r\n" + big + b"Event: B\r\n\r\n")
    assert headers(frames) == [{"Event": "A"}, {"Event": "B"}]
    assert framer.stats.oversized == 1
    assert framer.stats.messages == 2


@pytest.mark.parametrize("extra", [0, 1])
def test_cap_counts_the_whole_message_with_its_blank_line(extra: int) -> None:
    message = b"Event: X\r\nPad: " + b"p" * 20 + b"\r\n\r\n"
    framer = AmiFramer(max_message_size=len(message) - extra, expect_banner=False)
    frames = framer.feed(message)
    assert len(frames) == 1 - extra
    assert framer.stats.oversized == extra


@pytest.mark.parametrize(
    "split",
    [
        (b"\r", b"\n\r\n"),
        (b"\r\n", b"\r\n"),
        (b"\r\n\r", b"\n"),
        (b"\n", b"\n"),
        (b"", b"\r\n\r\n"),
    ],
)
def test_resync_finds_a_blank_line_split_between_feeds(split: tuple[bytes, bytes]) -> None:
    framer = AmiFramer(max_message_size=16, expect_banner=False)
    assert framer.feed(b"Event: Huge\r\nData: " + b"z" * 50 + split[0]) == []
    frames = framer.feed(split[1] + b"Event: Small\r\n\r\n")
    assert headers(frames) == [{"Event": "Small"}]
    assert framer.stats.oversized == 1


def test_too_long_banner_line_is_dropped_like_a_message() -> None:
    framer = AmiFramer(max_message_size=32)
    frames = framer.feed(b"A" * 100 + b"\r\nMore: x\r\n\r\nEvent: Ok\r\n\r\n")
    assert headers(frames) == [{"Event": "Ok"}]
    assert framer.stats.oversized == 1
    assert framer.stats.banners == 0


def test_max_message_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        AmiFramer(max_message_size=0)


# --- properties -------------------------------------------------------------------

_KEY = st.text(st.characters(blacklist_characters=":\r\n", blacklist_categories=["Cs"]), min_size=1)
_VALUE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_arbitrary_bytes_never_raise_and_chunking_does_not_matter(
    data: bytes, cuts: list[int]
) -> None:
    whole = AmiFramer(max_message_size=128)
    expected = whole.feed(data)
    pieces = AmiFramer(max_message_size=128)
    positions = sorted({min(c, len(data)) for c in cuts})
    sizes = [b - a for a, b in zip([0, *positions], positions, strict=False)]
    assert feed_chunks(pieces, data, sizes) == expected
    for attr in ("messages", "banners", "oversized", "lines_without_colon", "bytes_fed"):
        assert getattr(pieces.stats, attr) == getattr(whole.stats, attr), attr
    assert pieces.buffered <= 128 + 2


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(
        st.lists(st.tuples(_KEY, _VALUE), min_size=1, max_size=6), min_size=1, max_size=6
    ),
    eol=st.sampled_from([b"\r\n", b"\n"]),
    seed=st.integers(0, 2**32),
)
def test_serialized_messages_round_trip(
    messages: list[list[tuple[str, str]]], eol: bytes, seed: int
) -> None:
    stream = b"Asterisk Call Manager/5.0.0" + eol
    expected: list[AmiMessageDict] = [{"Banner": "Asterisk Call Manager/5.0.0"}]
    for pairs in messages:
        block: AmiMessageDict = {}
        for key, value in pairs:
            stream += f"{key}: {value}".encode() + eol
            previous = block.get(key)
            if previous is None:
                block[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                block[key] = [previous, value]
        stream += eol
        expected.append(block)
    framer = AmiFramer()
    frames = feed_chunks(framer, stream, random_sizes(random.Random(seed), len(stream), 50))
    assert headers(frames) == expected
