"""Load the recorded Asterisk AMI sessions (tests, replay, the simulator).

A trace ``<name>`` is ``<name>.ami`` (raw bytes), ``<name>.jsonl`` (one
``[recv_ts, {header: value}]`` per message, the banner first),
``<name>.sent.jsonl`` (the actions sent) and ``<name>.expected.json`` (the
end state). The directory is ``$QS_TRACES_DIR``, else
``<project root>/../shared/ami/traces``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ingest.ami.framing import Headers

TRACES_ENV = "QS_TRACES_DIR"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]

TimedMessage = tuple[float, Headers]


def traces_dir() -> Path:
    """Where the traces live."""
    configured = os.environ.get(TRACES_ENV)
    if configured:
        return Path(configured)
    return _PROJECT_ROOT.parent / "shared" / "ami" / "traces"


def trace_names() -> list[str]:
    """The names of the recorded traces, sorted (``a_startup``, ...)."""
    return sorted(
        path.name.removesuffix(".jsonl")
        for path in traces_dir().glob("*.jsonl")
        if not path.name.endswith(".sent.jsonl")
    )


def load_jsonl(name: str) -> list[TimedMessage]:
    """The received messages of a trace with their receive times, in order."""
    return _read_jsonl(_path(name, ".jsonl"))


def load_sent(name: str) -> list[TimedMessage]:
    """The actions the recording client sent, with their send times."""
    return _read_jsonl(_path(name, ".sent.jsonl"))


def load_raw(name: str) -> bytes:
    """Every byte received from the AMI socket, unmodified."""
    return _path(name, ".ami").read_bytes()


def load_expected(name: str) -> dict[str, Any]:
    """The end state of a trace (its last QueueStatus), see the traces README."""
    data = json.loads(_path(name, ".expected.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{name}.expected.json is not a JSON object")
    return data


def _path(name: str, suffix: str) -> Path:
    # Accept "a_startup" as well as "a_startup.jsonl" and the like.
    for known in (".sent.jsonl", ".expected.json", ".jsonl", ".ami"):
        name = name.removesuffix(known)
    return traces_dir() / f"{name}{suffix}"


def _read_jsonl(path: Path) -> list[TimedMessage]:
    messages: list[TimedMessage] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            stamp, message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError(f"{path.name}:{number}: the message is not an object")
            messages.append((float(stamp), message))
    return messages
