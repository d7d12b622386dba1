"""Custom scalars: timestamps and store versions, both integers wider than GraphQL's Int."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

Timestamp = NewType("Timestamp", int)
Version = NewType("Version", int)


def _integer(value: Any) -> int:
    # bool is an int in Python, but never a timestamp or a version.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return int(value)


SCALARS: dict[object, ScalarDefinition] = {
    Timestamp: strawberry.scalar(
        name="Timestamp",
        description=(
            "A point in time: milliseconds since the Unix epoch (UTC) as a JSON number, "
            "e.g. 1703337600000. In JavaScript: `new Date(value)`. Asterisk reports some "
            "times in whole seconds; they are converted, so every Timestamp is in ms."
        ),
        serialize=int,
        parse_value=_integer,
    ),
    Version: strawberry.scalar(
        name="Version",
        description=(
            "A position in the store's global change sequence: every change of any "
            "operator, queue or channel takes the next number. A non-negative integer as a "
            "JSON number (it may exceed 32 bits)."
        ),
        serialize=int,
        parse_value=_integer,
    ),
}


def as_timestamp(value: Any) -> Timestamp | None:
    """A millisecond timestamp from stored JSON; None when absent or not a number."""
    number = as_int(value)
    return None if number is None else Timestamp(number)


def as_timestamp_from_seconds(value: Any) -> Timestamp | None:
    """A millisecond timestamp from Asterisk's epoch seconds; None for absent or 0 ("never")."""
    number = as_int(value)
    return None if not number else Timestamp(number * 1000)


def as_version(value: Any) -> Version | None:
    """A store version from stored JSON, or None."""
    number = as_int(value)
    return None if number is None else Version(number)


def as_int(value: Any) -> int | None:
    """An int from stored JSON (numbers, numeric strings); None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
