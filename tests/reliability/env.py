"""Mode switches of the suite and the figures it records for the report.

`make reliability` sets ``QS_RELIABILITY=1`` (run the slow items, assert the
timing goals) and ``QS_RELIABILITY_RESULTS`` (where `record` writes the
figures that `tests.reliability.report` prints as a table). Plain `make test`
sets neither: only the fast items run, timing goals are printed, not asserted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FULL = os.environ.get("QS_RELIABILITY") == "1"
"""`make reliability`: slow items too, and timing goals are asserted."""

RESULTS = os.environ.get("QS_RELIABILITY_RESULTS", "")
"""The JSON file figures are collected in (unset: nothing is written)."""


def timing_goal(ok: bool, message: str) -> None:
    """Assert a timing goal in `make reliability`; elsewhere only print it when missed."""
    if FULL:
        assert ok, message
    elif not ok:
        print(f"timing goal missed (not asserted outside make reliability): {message}")


def record(item: str, fault: str, held: str, **figures: Any) -> None:
    """Keep one row of the report: which item, the fault, what held, its figures."""
    row = {"item": item, "fault": fault, "held": held, "figures": figures}
    print(f"[reliability {item}] {fault}: {held} {json.dumps(figures, sort_keys=True)}")
    if not RESULTS:
        return
    path = Path(RESULTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Any] = {}
    if path.exists():
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            rows = {}
    rows[item] = row
    path.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n", encoding="utf-8")
