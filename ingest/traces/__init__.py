"""The recorded Asterisk AMI sessions and their one loader (replay, file runner, tests).

A trace ``<name>`` is ``<name>.jsonl`` (one ``[recv_ts, {header: value}]``
per received message, the banner first) and ``<name>.sent.jsonl`` (the
actions the recording client sent, same format). The six lab recordings
(``a_startup`` … ``h_realtime``) ship in this package, so
``queue-status simulate --replay b_single_call`` works from any install.
Their test-only companions (``.ami`` raw bytes, ``.expected.json``,
``.notes.json``) and the lab's README live in ``tests/fixtures/ami-traces``.

Lookup order for a file: ``$QS_AMI_TRACES_DIR`` when set (your own
recordings, or a whole lab directory: its files win over the packaged ones
of the same name), then this package, then any ``extra`` directories the
caller names (the tests name their fixtures directory).

Plain standard library (and `ingest.ami.message`, which is too): the AMI
simulator uses this module and must not import the ingest's AMI client.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ingest.ami.message import AmiMessageDict

TRACES_ENV = "QS_AMI_TRACES_DIR"
PACKAGED_DIR = Path(__file__).resolve().parent
"""The recordings shipped with the package."""

TimedMessage = tuple[float, AmiMessageDict]
"""A recorded message and when it was received (or sent), in seconds."""

_SUFFIXES = (".sent.jsonl", ".expected.json", ".notes.json", ".jsonl", ".ami")


def search_path(extra: Iterable[Path] = ()) -> list[Path]:
    """The directories looked in, in order: the override, the package, then ``extra``."""
    override = os.environ.get(TRACES_ENV)
    dirs = [Path(override)] if override else []
    return [*dirs, PACKAGED_DIR, *extra]


def find(name: str, suffix: str = ".jsonl", extra: Iterable[Path] = ()) -> Path:
    """The first ``<name><suffix>`` on the search path; FileNotFoundError naming where it looked."""
    # Accept "a_startup" as well as "a_startup.jsonl" and the like.
    for known in _SUFFIXES:
        name = name.removesuffix(known)
    dirs = search_path(extra)
    for directory in dirs:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(d) for d in dirs)
    raise FileNotFoundError(f"no recorded trace {name}{suffix} in {looked} (${TRACES_ENV})")


def resolve(trace: str | Path) -> Path:
    """A trace's ``.jsonl``: a path ending in ``.jsonl`` as given, else a name looked up."""
    path = Path(trace)
    if path.suffix == ".jsonl":
        return path
    return find(str(trace))


def sent_path(recording: Path) -> Path:
    """Where the ``.sent.jsonl`` of a ``.jsonl`` recording is: beside it."""
    return recording.with_name(recording.name.removesuffix(".jsonl") + ".sent.jsonl")


def trace_names() -> list[str]:
    """The names of every trace on the search path, sorted (``a_startup``, ...)."""
    return sorted(
        {
            path.name.removesuffix(".jsonl")
            for directory in search_path()
            for path in directory.glob("*.jsonl")
            if not path.name.endswith(".sent.jsonl")
        }
    )


def load_jsonl(name: str) -> list[TimedMessage]:
    """The received messages of a trace with their receive times, in order."""
    return read_jsonl(find(name, ".jsonl"))


def load_sent(name: str) -> list[TimedMessage]:
    """The actions the recording client sent, with their send times."""
    return read_jsonl(sent_path(find(name, ".jsonl")))


def read_jsonl(path: str | Path) -> list[TimedMessage]:
    """The ``[stamp, message]`` lines of a ``.jsonl`` file, in order (blank lines skipped)."""
    messages: list[TimedMessage] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            stamp, message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError(f"{path}:{number}: the message is not an object")
            messages.append((float(stamp), message))
    return messages
