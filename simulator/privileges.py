"""The manager user the simulator serves, as manager.conf's ``read =``/``write =`` set it.

Asterisk's checks (``main/manager.c``): an action runs when the user's write
classes include one of the classes it was registered with, or it was
registered with none (QueueStatus, QueueSummary, Ping); otherwise the answer is
``Response: Error`` / ``Message: Permission denied``. An action whose module
is not loaded is ``Invalid/unknown command``. A session gets an event when
its read classes include every class of the event (its ``Privilege`` header,
``all`` aside): a ``read = call,agent`` user gets no FullyBooted (system) or
SuccessfulAuth (security) at login and no dialplan events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingest.ami.message import AmiMessage
from simulator.wire import header

_NONE: frozenset[str] = frozenset()
ACTION_CLASSES: dict[str, frozenset[str]] = {
    "queuestatus": _NONE,
    "queuesummary": _NONE,
    "coreshowchannels": frozenset({"system", "reporting"}),
    "devicestatelist": frozenset({"call", "reporting"}),
    "queueadd": frozenset({"agent"}),
    "queueremove": frozenset({"agent"}),
    "queuepause": frozenset({"agent"}),
    "queuepenalty": frozenset({"agent"}),
    "queuememberringinuse": frozenset({"agent"}),
    "setvar": frozenset({"call"}),
    "originate": frozenset({"originate"}),
    "hangup": frozenset({"system", "call"}),
}
"""The write classes each action was registered with (apps/app_queue.c, main/manager.c,
res/res_manager_devicestate.c); an action not listed needs none."""


def _classes(text: str | None) -> frozenset[str] | None:
    """``"call,agent"`` → its classes; None (every class) for None or ``all``."""
    if text is None:
        return None
    classes = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    return None if "all" in classes else classes


@dataclass(frozen=True, slots=True)
class Privileges:
    """What the simulated manager user may read and do. The default: everything."""

    read: frozenset[str] | None = None
    """Event classes the user reads; None: all."""
    write: frozenset[str] | None = None
    """Action classes the user may use; None: all."""
    unloaded: frozenset[str] = _NONE
    """Actions (lower case) whose module is not loaded, e.g. ``devicestatelist``."""

    @classmethod
    def parse(
        cls, read: str | None = None, write: str | None = None, unloaded: Iterable[str] = ()
    ) -> Privileges:
        """From manager.conf's spelling: ``Privileges.parse("call,agent", "agent")``."""
        return cls(_classes(read), _classes(write), frozenset(a.lower() for a in unloaded))

    def refusal(self, action: str) -> str | None:
        """Asterisk's error ``Message`` for `action`, or None when it runs."""
        name = action.lower()
        if name in self.unloaded:
            return (
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands."
            )
        needed = ACTION_CLASSES.get(name, _NONE)
        if not needed or self.write is None or needed & self.write:
            return None
        return "Permission denied"

    def may_read(self, event: AmiMessage) -> bool:
        """Whether the user gets `event`."""
        if self.read is None:
            return True
        classes = {c for c in header(event, "Privilege").split(",") if c and c != "all"}
        return classes <= self.read


LEAST_PRIVILEGE = Privileges.parse(read="call,agent", write="agent")
"""The monitor user recorded on Asterisk 22: queue, member and caller events; the
supervisor actions (QueuePause, QueueAdd …); neither CoreShowChannels nor DeviceStateList."""
