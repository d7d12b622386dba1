"""One goal of the issue as the report prints it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal of the issue, evaluated on this run's figures."""

    name: str
    target: str
    value: str
    met: bool | None  # None: not measured
    informational: bool = False
    """A figure shown beside the goals, with no goal of its own."""

    def line(self) -> str:
        """`[met] name: value (target)`."""
        if self.informational:
            return f"[{'figure':>12}] {self.name}: {self.value}  ({self.target})"
        mark = {True: "met", False: "NOT MET", None: "not measured"}[self.met]
        return f"[{mark:>12}] {self.name}: {self.value}  (goal: {self.target})"

    def as_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "target": self.target,
            "value": self.value,
            "met": self.met,
            "informational": self.informational,
        }
