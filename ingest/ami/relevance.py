"""Which AMI events the service uses: the one allow-list, and the Login event mask.

Most of what Asterisk sends is of no use here (``VarSet``, ``Newexten``,
``Dial*``, ``Bridge*``, RTCP …: about half of the recorded lab traffic, more on
a real dialplan). The framer drops those from the ``Event:`` header of the raw
frame (`RawEventFilter`), before any message object exists.

`WANTED_EVENTS` is the union of what reads events:

- the parser (`ingest.ami.parser.TRACKED_EVENTS`), hence the reducer, the
  snapshot lists and the call-record builder, which only see parsed events;
- the runner's system watch (``FullyBooted``, ``Reload``), panoramisk's resend
  of pending actions (``FullyBooted``) and its disconnect (``Shutdown``): all
  parsed kinds already;
- the events that confirm a supervisor action (`ACTION_CONFIRMATIONS`).

A frame that carries an ``ActionID`` always passes: it answers an action (a
list item, an ``OriginateResponse``), and the protocol decides whose.

`DEFAULT_EVENT_CLASSES` is the ``Events:`` mask sent at Login: the classes
(manager.conf ``read =`` names) every wanted event belongs to, so Asterisk does
not even send the dialplan, security, cdr … floods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.ami.parser import TRACKED_EVENTS

ACTION_CONFIRMATIONS: frozenset[str] = frozenset({"ChanSpyStart", "ChanSpyStop"})
"""Events the console waits for (`ingest.actions.requests`) that the parser does not track."""

WANTED_EVENTS: frozenset[str] = TRACKED_EVENTS | ACTION_CONFIRMATIONS
"""Every AMI event name something in the service reads (as Asterisk spells it)."""

DEFAULT_EVENT_CLASSES = "system,call,agent"
"""The Login ``Events:`` mask: ``agent`` (app_queue's Queue*/Agent* events), ``call``
(channels, DeviceStateChange, ChanSpy*, BlindTransfer), ``system`` (FullyBooted,
Reload, Shutdown). Not ``dialplan`` (Newexten, VarSet), ``security``, ``cdr``,
``reporting`` (RTCP) …: nothing here reads them."""

EVENT_CLASSES: frozenset[str] = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)
"""Asterisk's event class names (main/manager.c ``perms[]``), for checking a mask."""

ASYNC_ANSWERS: frozenset[str] = frozenset({"OriginateResponse"})
"""Events that answer an action later, through the event queue (the listen-in's Async
Originate): `manager.conf` filters must let them through; the raw filter keeps them
by their ActionID."""


def manager_conf_filters() -> list[str]:
    """The ``eventfilter`` lines of ``manager.conf`` (Asterisk 20.11, 21.6, 22.1 and
    later) that let through only the events the service uses.

    Include filters by name: Asterisk compares a hash of the name, no regex. Action
    answers (``QueueStatus`` items and the like) are written to the session
    directly and are never filtered.
    """
    names = sorted(WANTED_EVENTS | ASYNC_ANSWERS, key=str.lower)
    return [f"eventfilter(action(include),name({name})) =" for name in names]


def main() -> int:
    """Print the manager.conf lines (``python -m ingest.ami.relevance``)."""
    print(f"; the events Queue Status uses; Login Events: {DEFAULT_EVENT_CLASSES}")
    for line in manager_conf_filters():
        print(line)
    return 0


_MAX_KINDS = 256
_OTHER = b"<other>"


def normalise_event_mask(value: str) -> str:
    """The ``Events:`` value for a setting: ``on``, ``off`` or known classes, comma-joined.

    Raises ValueError naming what is wrong (an unknown class, an empty list).
    """
    text = value.strip().lower()
    if text in {"on", "yes", "true", "all"}:
        return "on"
    if text in {"off", "no", "false", "none"}:
        return "off"
    classes = [part.strip() for part in text.split(",") if part.strip()]
    if not classes:
        raise ValueError("empty: use on, off or event classes such as system,call,agent")
    unknown = sorted(set(classes) - EVENT_CLASSES)
    if unknown:
        raise ValueError(
            f"unknown AMI event class(es) {', '.join(unknown)};"
            f" known: {', '.join(sorted(EVENT_CLASSES))}"
        )
    return ",".join(dict.fromkeys(classes))


@dataclass(slots=True)
class RawEventFilter:
    """Decides from the raw ``Event:`` name (bytes) whether a frame is worth building.

    `dropped` counts per kind (at most 256 kinds, then ``<other>``); `dropped_total`
    in all. Any letter case of a wanted name passes (the parser accepts it too).
    """

    wanted: frozenset[str] = WANTED_EVENTS
    dropped: dict[bytes, int] = field(default_factory=dict)
    dropped_total: int = 0
    _exact: frozenset[bytes] = field(init=False, repr=False)
    _lowered: frozenset[bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact = frozenset(name.encode() for name in self.wanted)
        self._lowered = frozenset(name.lower().encode() for name in self.wanted)

    def wants(self, name: bytes) -> bool:
        """Whether an event of this name is used."""
        return name in self._exact or name.lower() in self._lowered

    def count_dropped(self, name: bytes) -> None:
        """Count one frame of `name` dropped."""
        self.dropped_total += 1
        dropped = self.dropped
        if name in dropped:
            dropped[name] += 1
        elif len(dropped) < _MAX_KINDS:
            dropped[name] = 1
        else:
            dropped[_OTHER] = dropped.get(_OTHER, 0) + 1

    def dropped_by_kind(self) -> dict[str, int]:
        """The per-kind counts, names decoded, most frequent first."""
        ordered = sorted(self.dropped.items(), key=lambda item: -item[1])
        return {name.decode("utf-8", "replace"): count for name, count in ordered}


if __name__ == "__main__":
    raise SystemExit(main())
