"""`python -m tests.reliability.report [results.json]`: the reliability table.

Prints one row per item `make reliability` recorded: the fault, what held, and
its figures (requests, events, subscribers, errors, drift, memory…), as a
Markdown table (the one README's Reliability section shows).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).parent / "results" / "results.json"
EXPECTED_ITEMS = [str(n) for n in range(1, 28)]


def _order(item: str) -> tuple[int, str]:
    match = re.match(r"(\d+)(.*)", item)
    return (int(match.group(1)), match.group(2)) if match else (999, item)


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in figures.items())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The Markdown table of the recorded rows."""
    lines = ["| # | fault | what held | figures |", "|---|---|---|---|"]
    for item in sorted(rows, key=_order):
        row = rows[item]
        lines.append(
            f"| {item} | {_cell(row['fault'])} | {_cell(row['held'])} "
            f"| {_cell(_figures(row['figures']))} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the table; exit 1 when an item recorded nothing (it failed or did not run)."""
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    if not path.exists():
        print(f"no results at {path}: did `make reliability` run?")
        return 1
    rows: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    print(table(rows))
    missing = [n for n in EXPECTED_ITEMS if not any(_order(k)[0] == int(n) for k in rows)]
    if missing:
        print(f"\nno figures for item(s) {', '.join(missing)}: failed or not run")
        return 1
    print(f"\n{len(rows)} rows, items 1-{len(EXPECTED_ITEMS)} all recorded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
