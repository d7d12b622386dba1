"""The list actions a snapshot asks Asterisk, what each answered, when to ask again.

QueueStatus alone reconciles queues, memberships, member status, pause,
reason, penalty and the queue counters; Asterisk lets any manager user ask
it. CoreShowChannels (channels) and DeviceStateList (device states, for a
member QueueStatus calls UNKNOWN) add to it when the user may ask them:
Asterisk checks an action's required write classes (``main/manager.c``,
``res/res_manager_devicestate.c``) and otherwise answers ``Response: Error``
with ``Message: Permission denied``, or ``Invalid/unknown command`` when the
module is not loaded. Such a refusal, or no answer within
`LIST_ACTION_TIMEOUT` (by default), is logged once, shown in the ingest status
(``snapshotSources``) and skips that action until the reconcile interval
has passed: snapshots taken sooner (a reconnect, a Reload, Redis back)
ask QueueStatus without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.logs import get_logger

log = get_logger("AmiService")

LIST_ACTION_TIMEOUT = 10.0
"""Seconds a list action may take to answer completely; after that it counts as refused."""

OK = "ok"
NOT_ASKED = "not asked yet"
PERMISSION_DENIED = "permission denied"
NOT_AVAILABLE = "not available"
TIMED_OUT = "timed out"


@dataclass(frozen=True, slots=True)
class ListAction:
    """One list action of a snapshot."""

    name: str
    """The key in ``snapshotSources``."""
    action: str
    """The AMI action."""
    collected: str
    """Its key in the collected lists (see `ingest.pipeline.EventPipeline.apply_snapshot`)."""
    needs: str
    """The write classes Asterisk requires of the manager user (empty: none)."""
    required: bool = False
    """Without it there is no snapshot."""


QUEUE_STATUS = ListAction("queueStatus", "QueueStatus", "queue_status", "", required=True)
CORE_SHOW_CHANNELS = ListAction(
    "coreShowChannels", "CoreShowChannels", "channels", "write = system or reporting"
)
DEVICE_STATE_LIST = ListAction(
    "deviceStateList", "DeviceStateList", "device_states", "write = call or reporting"
)
LIST_ACTIONS = (QUEUE_STATUS, CORE_SHOW_CHANNELS, DEVICE_STATE_LIST)

_WITHOUT = {
    CORE_SHOW_CHANNELS.name: "channels come from events only",
    DEVICE_STATE_LIST.name: "a member Asterisk reports as UNKNOWN stays unknown",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A list action Asterisk did not answer with its list."""

    outcome: str
    """`PERMISSION_DENIED`, `NOT_AVAILABLE`, `TIMED_OUT` or ``error: <message>``."""

    @classmethod
    def of_answer(cls, answer: Any) -> Refusal:
        """The refusal an error answer (``Response: Error``) stands for."""
        getter = getattr(answer, "get", None)
        message = str(getter("Message") or "") if callable(getter) else ""
        lowered = message.lower()
        if "permission denied" in lowered:
            return cls(PERMISSION_DENIED)
        if "unknown command" in lowered:
            return cls(NOT_AVAILABLE)
        # Asterisk's own words, never an echo of ours (no value of an action is in there).
        return cls(f"error: {message[:120]}" if message else "error")


class SnapshotSources:
    """Which list actions a snapshot asks now, and what each answered last."""

    def __init__(
        self,
        retry_after: float = 60.0,
        *,
        timeout: float = LIST_ACTION_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retry_after = retry_after
        self._timeout = timeout
        self._clock = clock
        self._outcomes = {action.name: NOT_ASKED for action in LIST_ACTIONS}
        self._retry_at: dict[str, float] = {}

    def due(self) -> list[ListAction]:
        """The actions to ask now: QueueStatus always, a refused one once its wait is over."""
        now = self._clock()
        return [a for a in LIST_ACTIONS if a.required or self._retry_at.get(a.name, now) <= now]

    def answered(self, action: ListAction) -> None:
        """`action` answered with its list."""
        if self._outcomes[action.name] not in (OK, NOT_ASKED):
            log.info("%s answered again: reconciled with the snapshots", action.action)
        self._outcomes[action.name] = OK
        self._retry_at.pop(action.name, None)

    def refused(self, action: ListAction, refusal: Refusal) -> None:
        """`action` was refused or not answered: logged once, asked again after a while."""
        before = self._outcomes[action.name]
        self._outcomes[action.name] = refusal.outcome
        if action.required:
            return  # the snapshot failed: its retry logs it
        self._retry_at[action.name] = self._clock() + self._retry_after
        if before == refusal.outcome:
            return
        needs = f"; the manager user needs {action.needs}" if action.needs else ""
        log.warning(
            "%s %s%s. Snapshots go on without it (%s); asked again every %.0f s",
            action.action,
            _described(refusal.outcome, self._timeout),
            needs if refusal.outcome == PERMISSION_DENIED else _module_hint(action, refusal),
            _WITHOUT.get(action.name, "not reconciled"),
            self._retry_after,
        )

    def as_json(self) -> dict[str, str]:
        """``{queueStatus: "ok", coreShowChannels: "permission denied", …}``."""
        return dict(self._outcomes)


def _described(outcome: str, timeout: float) -> str:
    if outcome == PERMISSION_DENIED:
        return "refused by Asterisk (Permission denied)"
    if outcome == NOT_AVAILABLE:
        return "unknown to Asterisk (Invalid/unknown command)"
    if outcome == TIMED_OUT:
        return f"got no answer within {timeout:g} s"
    return f"failed ({outcome})"


def _module_hint(action: ListAction, refusal: Refusal) -> str:
    if refusal.outcome == NOT_AVAILABLE and action is DEVICE_STATE_LIST:
        return "; it needs res_manager_devicestate loaded"
    return ""
