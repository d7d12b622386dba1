"""Typed, case-insensitive access to the fields of one AMI message, for the parser.

`Fields` reads a header under any of its spellings and letter cases and
converts it (text, integer, number, 0/1 flag, ``hh:mm:ss``, caller id); a
missing required field or a bad value raises `MalformedEvent`, which names
the event and the field. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re

from ingest.ami.message import AmiMessage

# Bounded so a corrupted number cannot become a 4000-digit int downstream.
_INT = re.compile(r"-?[0-9]{1,19}")
_FLOAT = re.compile(r"-?[0-9]{1,19}(?:\.[0-9]{1,19})?")
_DURATION = re.compile(r"([0-9]{1,9}):([0-5][0-9]):([0-5][0-9])")
_FLAGS = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False}
_MISSING = object()
# What Asterisk prints when a channel has no caller id.
NO_CALLER_ID = frozenset({"", "<unknown>"})
# QueueEntry uses its own placeholder.
NO_CALLER_ID_QUEUE_ENTRY = frozenset({"", "<unknown>", "unknown"})


class MalformedEvent(ValueError):
    """A tracked event with a missing or unusable field."""

    def __init__(self, event: str, field: str, problem: str) -> None:
        super().__init__(f"AMI event {event!r}: field {field!r} {problem}")
        self.event = event
        self.field = field
        self.problem = problem


def header_value(message: AmiMessage, lowered: str) -> object:
    """The value of the header of this lowered name, None when absent. A panoramisk
    ``Message`` is read in its own store (lowered name -> (name, value))."""
    store = getattr(message, "_store", None)
    if isinstance(store, dict):
        entry = store.get(lowered)
        return entry[1] if isinstance(entry, tuple) else None
    return next((v for k, v in message.items() if str(k).lower() == lowered), None)


class Fields:
    """Case-insensitive typed access to one message's fields."""

    __slots__ = ("_paired", "_values", "event")

    def __init__(self, message: AmiMessage) -> None:
        store = getattr(message, "_store", None)
        if isinstance(store, dict):
            # A panoramisk Message keeps lowered name -> (wire name, value) already,
            # repeated headers merged: read it in place instead of copying it.
            self._values: dict[str, object] = store
            self._paired = True
        else:
            # Lowered name -> its value, or the list of every value when a header is
            # repeated (or spelled in two letter cases); most headers are one string.
            values: dict[str, object] = {}
            for key, value in message.items():
                lowered = str(key).lower()
                if lowered in values:
                    before = values[lowered]
                    bucket = list(before) if isinstance(before, list) else [before]
                    bucket.extend(value if isinstance(value, list) else [value])
                    values[lowered] = bucket
                else:
                    values[lowered] = value
            self._values = values
            self._paired = False
        self.event = ""
        self.event = self.text("Event")

    def _get(self, name: str) -> object:
        value = self._values.get(name.lower(), _MISSING)
        if self._paired and value is not _MISSING:
            return value[1]  # type: ignore[index]
        return value

    def error(self, field: str, problem: str) -> MalformedEvent:
        """The error naming this event and `field`, for the caller to raise."""
        return MalformedEvent(self.event, field, problem)

    def has(self, name: str) -> bool:
        value = self._get(name)
        return value is not _MISSING and value != []

    def raw(self, *names: str) -> str | None:
        """The value of the first of ``names`` present, None if none is."""
        stored, paired = self._values, self._paired
        for name in names:
            values = stored.get(name.lower(), _MISSING)
            if values is _MISSING:
                continue
            if paired:
                values = values[1]  # type: ignore[index]
            if values.__class__ is str:
                return values  # the common case: one string
            if not isinstance(values, list):
                values = [values]
            if not values:
                continue
            first = values[0]
            if not isinstance(first, str):
                raise self.error(name, "is not text")
            # A header repeated with one value is harmless; with two it is ambiguous.
            if any(other != first for other in values[1:]):
                raise self.error(name, "is repeated with different values")
            return first
        return None

    def text(self, *names: str) -> str:
        value = self.raw(*names)
        if value is None:
            raise self.error(names[0], "is missing")
        return value

    def opt_text(self, *names: str) -> str | None:
        """The value, None when missing or empty."""
        return self.raw(*names) or None

    def integer(self, *names: str) -> int:
        value = self.opt_integer(*names)
        if value is None:
            raise self.error(names[0], "is missing")
        return value

    def opt_integer(self, *names: str) -> int | None:
        value = self.raw(*names)
        if value is None:
            return None
        if not _INT.fullmatch(value.strip()):
            raise self.error(_present(self, names), f"is not an integer: {value[:40]!r}")
        return int(value)

    def opt_float(self, *names: str) -> float | None:
        value = self.raw(*names)
        if value is None:
            return None
        if not _FLOAT.fullmatch(value.strip()):
            raise self.error(_present(self, names), f"is not a number: {value[:40]!r}")
        return float(value)

    def number(self, *names: str) -> float:
        value = self.opt_float(*names)
        if value is None:
            raise self.error(names[0], "is missing")
        return value

    def flag(self, *names: str) -> bool:
        value = self.opt_flag(*names)
        if value is None:
            raise self.error(names[0], "is missing")
        return value

    def opt_flag(self, *names: str) -> bool | None:
        value = self.raw(*names)
        if value is None:
            return None
        flag = _FLAGS.get(value.strip().lower())
        if flag is None:
            raise self.error(_present(self, names), f"is not a 0/1 flag: {value[:40]!r}")
        return flag

    def duration(self, name: str) -> int:
        """``hh:mm:ss`` in seconds."""
        value = self.text(name)
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise self.error(name, f"is not hh:mm:ss: {value[:40]!r}")
        hours, minutes, seconds = (int(part) for part in match.groups())
        return hours * 3600 + minutes * 60 + seconds

    def caller_id(self, name: str, placeholders: frozenset[str] = NO_CALLER_ID) -> str | None:
        value = self.raw(name)
        return None if value is None or value in placeholders else value


def _present(fields: Fields, names: tuple[str, ...]) -> str:
    """The name (of several spellings) that the message actually used."""
    return next((name for name in names if fields.has(name)), names[0])
