"""The recordings' test-only companions, found by the one loader (`ingest.traces`).

The ``.jsonl``/``.sent.jsonl`` of each trace ship with the package; the raw
``.ami`` bytes and the ``.expected.json`` end states only tests read, so
they live in ``tests/fixtures/ami-traces`` (with the lab's README saying how
they were recorded). ``$QS_AMI_TRACES_DIR`` still comes first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.traces import find

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "ami-traces"


def fixture_path(name: str, suffix: str) -> Path:
    """A companion file of a trace, e.g. ``fixture_path("b_single_call", ".ami")``."""
    return find(name, suffix, extra=[FIXTURES_DIR])


def load_raw(name: str) -> bytes:
    """Every byte received from the AMI socket, unmodified."""
    return fixture_path(name, ".ami").read_bytes()


def load_expected(name: str) -> dict[str, Any]:
    """The end state of a trace (its last QueueStatus), see the fixtures' README."""
    data = json.loads(fixture_path(name, ".expected.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{name}.expected.json is not a JSON object")
    return data
