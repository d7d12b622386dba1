"""Reading figures out of a run's results (shared by the report and the chart)."""

from __future__ import annotations

from typing import Any

Results = dict[str, Any]


def figure_at(results: Results, *path: str | int) -> Any:
    """The figure at `path` (keys or indexes; JSON turns int keys into strings), else None."""
    node: Any = results
    for step in path:
        if isinstance(node, dict) and str(step) in node:
            node = node[str(step)]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return None
    return node


def subscription_run(results: Results, size: int, subscribers: int, rate: float) -> Any:
    """The subscription run of that size, subscriber count and rate, else None."""
    for run in figure_at(results, "sizes", size, "subscriptions") or []:
        if run["subscribers"] == subscribers and run["rate"] == rate:
            return run
    return None
