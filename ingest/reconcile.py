"""Reconciliation: make the live state equal to what Asterisk reports.

After every AMI login, and periodically, the connection asks Asterisk for
QueueStatus, CoreShowChannels and DeviceStateList. `plan_reconcile` turns
those answers and the current state into patches — pure, like the reducer:
fields corrected, entities Asterisk no longer knows removed, entities we
missed created. Each change in the plan is one corrected entity (created,
updated or removed); patches that would change nothing are left out, so
``len(plan)`` is the drift figure, and a snapshot planned twice yields an
empty plan the second time.

Membership: while AMI is connected, Asterisk's QueueStatus is the truth of
who is a member of what — static members (queues.conf), dynamic ones
(QueueAdd) and realtime ones (the database; QueueStatus calls them
"static"). A membership Asterisk does not report goes, including one that
only the database sync wrote; a realtime membership keeps its ``realtime``
label. Fields QueueStatus does not carry (ringinuse, the database's wrap-up
time, timeouts) are left as they are.

Scope: a QueueStatus filtered by Queue covers that queue only, one filtered
by Member only that member's rows; nothing outside the scope is touched.
Removals are explicit deletes of what this plan saw, never "everything not
in the list": an entity created after the state was read survives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.ami.events import (
    AmiEvent,
    CoreShowChannel,
    DeviceStateChange,
    MemberInfo,
    QueueEntry,
    QueueMember,
    QueueParams,
)
from ingest.ami.message import AmiMessage
from ingest.ami.parser import EventParser
from ingest.domain import DEVICE_STATE_NAMES, status_from_device_state
from ingest.keys import Kind
from ingest.patches import Change, JsonObject, Patch, Path, delete, merge
from ingest.reducer.agents import CALLS_AFTER_CALL
from ingest.reducer.channels import channel_fields
from ingest.reducer.members import membership_fields
from ingest.store import Snapshot

_UNKNOWN_DEVICE_STATE = 0


@dataclass(frozen=True, slots=True)
class AsteriskSnapshot:
    """What Asterisk answered to one round of snapshot actions.

    `params`, `members` and `entries` are the items of QueueStatus answers
    (one unfiltered answer, plus any per-queue answers for realtime queues);
    `queue` and `member` are the filters the QueueStatus was sent with.
    `channels` (CoreShowChannels) and `device_states` (DeviceStateList) are
    None when not asked. `has_queue_status` is False for a snapshot of
    channels only.
    """

    params: tuple[QueueParams, ...] = ()
    members: tuple[QueueMember, ...] = ()
    entries: tuple[QueueEntry, ...] = ()
    channels: tuple[CoreShowChannel, ...] | None = None
    device_states: tuple[DeviceStateChange, ...] | None = None
    queue: str | None = None
    member: str | None = None
    has_queue_status: bool = True

    @classmethod
    def from_events(
        cls,
        queue_status: Iterable[AmiEvent],
        *,
        channels: Iterable[AmiEvent] | None = None,
        device_states: Iterable[AmiEvent] | None = None,
        queue: str | None = None,
        member: str | None = None,
        has_queue_status: bool = True,
    ) -> AsteriskSnapshot:
        """Sort typed list items into a snapshot (other events are ignored)."""
        items = list(queue_status)
        return cls(
            params=tuple(i for i in items if isinstance(i, QueueParams)),
            members=tuple(i for i in items if isinstance(i, QueueMember)),
            entries=tuple(i for i in items if isinstance(i, QueueEntry)),
            channels=None
            if channels is None
            else tuple(i for i in channels if isinstance(i, CoreShowChannel)),
            device_states=None
            if device_states is None
            else tuple(i for i in device_states if isinstance(i, DeviceStateChange)),
            queue=queue,
            member=member,
            has_queue_status=has_queue_status,
        )

    @classmethod
    def from_messages(
        cls,
        queue_status: Iterable[AmiMessage],
        *,
        channels: Iterable[AmiMessage] | None = None,
        device_states: Iterable[AmiMessage] | None = None,
        queue: str | None = None,
        member: str | None = None,
        has_queue_status: bool = True,
        parser: EventParser | None = None,
    ) -> AsteriskSnapshot:
        """Parse raw list items (as the AMI connection collects them) into a snapshot.

        Items that do not parse are counted by `parser` and left out.
        """
        parse = (parser or EventParser()).parse

        def typed(messages: Iterable[AmiMessage]) -> list[AmiEvent]:
            return [event for event in map(parse, messages) if event is not None]

        return cls.from_events(
            typed(queue_status),
            channels=None if channels is None else typed(channels),
            device_states=None if device_states is None else typed(device_states),
            queue=queue,
            member=member,
            has_queue_status=has_queue_status,
        )

    @property
    def full(self) -> bool:
        """True for an unfiltered QueueStatus: everything not reported is gone."""
        return self.has_queue_status and self.queue is None and self.member is None


def plan_reconcile(snapshot: AsteriskSnapshot, current: Snapshot, now: int) -> list[Change]:
    """The changes that make `current` equal to `snapshot`; one per corrected entity.

    `now` (ms epoch) dates callers and channels first seen here from their
    reported wait and duration.
    """
    changes: list[Change] = []
    if snapshot.has_queue_status:
        changes += _plan_queues(snapshot, current.queues, now)
        changes += _plan_operators(snapshot, current.operators)
    if snapshot.channels is not None:
        changes += _plan_channels(snapshot.channels, current.channels, now)
    return changes


def corrections_by_kind(changes: Sequence[Change]) -> dict[Kind, int]:
    """How many entities of each kind a plan corrects (for logs and metrics)."""
    counts: dict[Kind, int] = defaultdict(int)
    for change in changes:
        if isinstance(change, Patch):
            counts[change.kind] += 1
    return dict(counts)


# --- helpers ------------------------------------------------------------------


def _changes(existing: JsonObject | None, data: Mapping[str, Any]) -> bool:
    """Would merging `data` change `existing` (or create it)?"""
    return existing is None or merge(existing, data) != existing


def _by_id(entities: Iterable[JsonObject], field: str) -> dict[str, JsonObject]:
    return {str(e[field]): e for e in entities if isinstance(e.get(field), str)}


# --- queues -------------------------------------------------------------------


def _printed_percent(part: int, whole: int) -> float:
    """A percentage as app_queue prints it ("%2.1f"), as the store computes it too."""
    return float(f"{100 * part / whole:.1f}") if whole > 0 else 0.0


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count_behind(percent: float, whole: int, ours: int | None) -> int:
    """The count behind a percentage printed with one decimal.

    Exact below 1000 calls. Above, several counts print the same: the one events
    kept (`ours`) stays when it prints what Asterisk printed, else the nearest
    that does is taken — so a guess is only made when events were missed.
    """
    if whole <= 0:
        return 0
    if ours is not None and 0 <= ours <= whole and _printed_percent(ours, whole) == percent:
        return ours
    estimate = round(percent * whole / 100)
    spread = whole // 1000 + 2
    fits = [
        n
        for n in range(max(0, estimate - spread), min(whole, estimate + spread) + 1)
        if _printed_percent(n, whole) == percent
    ]
    if not fits:
        return estimate
    if ours is not None:
        return min(fits, key=lambda n: (abs(n - ours), n))
    return estimate if estimate in fits else fits[0]


def _queue_fields(params: QueueParams, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The queue as QueueParams reports it, with the calls within the service level.

    Asterisk reports only the percentages (one decimal); the counts behind them,
    which events then keep current, are recovered from them — exactly while a
    queue has fewer than 1000 calls since its last reset; above, the counts
    events kept are kept while they print the reported percentages.
    """
    old = existing or {}
    completed, abandoned = params.completed, params.abandoned
    completed_in = _count_behind(
        params.service_level_perf, completed, _whole(old.get("completedInServiceLevel"))
    )
    ours_completed = _whole(old.get("completedInServiceLevel"))
    ours_abandoned = _whole(old.get("abandonedInServiceLevel"))
    ours_both = (
        None
        if ours_completed is None or ours_abandoned is None
        else ours_completed + ours_abandoned
    )
    both_in = _count_behind(params.service_level_perf2 or 0.0, completed + abandoned, ours_both)
    data: dict[str, Any] = {
        "strategy": params.strategy,
        "maxLen": params.max_callers,
        "holdTime": params.hold_time,
        "talkTime": params.talk_time,
        "completed": params.completed,
        "abandoned": params.abandoned,
        "serviceLevel": params.service_level,
        "serviceLevelPerf": params.service_level_perf,
        "completedInServiceLevel": completed_in,
        "weight": params.weight,
    }
    if params.service_level_perf2 is not None:
        data["serviceLevelPerf2"] = params.service_level_perf2
        data["abandonedInServiceLevel"] = max(both_in - completed_in, 0)
    return data


def _callers(
    entries: Sequence[QueueEntry], existing: Mapping[str, Any], now: int
) -> dict[str, Any]:
    """The callers patch: exactly the reported ones; a known caller keeps its joinedAt."""
    patch: dict[str, Any] = {}
    for entry in entries:
        known = existing.get(entry.uniqueid)
        joined = known.get("joinedAt") if isinstance(known, Mapping) else None
        patch[entry.uniqueid] = {
            "position": entry.position,
            "channel": entry.channel,
            "uniqueId": entry.uniqueid,
            "callerIdNum": entry.caller_id_num,
            "callerIdName": entry.caller_id_name,
            "joinedAt": joined if joined is not None else now - entry.wait * 1000,
        }
    for uniqueid in existing:
        if uniqueid not in patch:
            patch[uniqueid] = None
    return patch


def _plan_queues(
    snapshot: AsteriskSnapshot, queues: Iterable[JsonObject], now: int
) -> list[Change]:
    current = _by_id(queues, "name")
    reported = {p.queue: p for p in snapshot.params}
    entries: dict[str, list[QueueEntry]] = defaultdict(list)
    for entry in snapshot.entries:
        entries[entry.queue].append(entry)
    changes: list[Change] = []
    for name, params in sorted(reported.items()):
        if snapshot.queue is not None and name != snapshot.queue:
            continue
        existing = current.get(name)
        data = _queue_fields(params, existing)
        old_callers = (existing or {}).get("callers")
        data["callers"] = _callers(
            entries[name], old_callers if isinstance(old_callers, Mapping) else {}, now
        )
        if _changes(existing, data):
            changes.append(Patch("queue", name, data))
    # QueueParams are listed whatever the Member filter; only a Queue filter narrows them.
    for name in sorted(current):
        in_scope = snapshot.queue is None or name == snapshot.queue
        if in_scope and name not in reported:
            changes.append(delete("queue", name))
    return changes


# --- operators ----------------------------------------------------------------


def _membership(row: MemberInfo, old: Mapping[str, Any]) -> dict[str, Any]:
    data = membership_fields(row)
    data["callsTaken"] = row.calls_taken
    data["lastCall"] = row.last_call
    # QueueStatus prints a realtime member as "static"; events and the database know better.
    if row.membership == "static" and old.get("membership") == "realtime":
        data["membership"] = "realtime"
    return data


def _status(rows: Sequence[MemberInfo], devices: Mapping[str, str]) -> str:
    """The device state Asterisk holds for the member; the device list when it has none."""
    code = rows[0].status
    if code == _UNKNOWN_DEVICE_STATE:
        known = DEVICE_STATE_NAMES.get(devices.get(rows[0].state_interface, "").upper())
        if known is not None:
            return known.value
    return status_from_device_state(code).value


def _plan_operators(snapshot: AsteriskSnapshot, operators: Iterable[JsonObject]) -> list[Change]:
    current = _by_id(operators, "memberId")
    rows: dict[str, list[MemberInfo]] = defaultdict(list)
    for item in snapshot.members:
        rows[item.member.interface].append(item.member)
    devices = {d.device: d.state for d in snapshot.device_states or ()}
    changes: list[Change] = []
    for interface in sorted(set(rows) | set(current)):
        change = _operator_change(
            snapshot, interface, current.get(interface), rows.get(interface, []), devices
        )
        if change is not None:
            changes.append(change)
    return changes


def _in_scope(
    snapshot: AsteriskSnapshot, interface: str, queue: str, membership: Mapping[str, Any]
) -> bool:
    """Would this QueueStatus have listed that membership (had it existed)?"""
    if snapshot.queue is not None and queue != snapshot.queue:
        return False
    # Asterisk's Member filter matches the interface or the member name.
    return snapshot.member is None or snapshot.member in (interface, membership.get("memberName"))


def _operator_change(
    snapshot: AsteriskSnapshot,
    interface: str,
    existing: JsonObject | None,
    reported: Sequence[MemberInfo],
    devices: Mapping[str, str],
) -> Change | None:
    """One operator: the memberships reported, the ones in scope but not reported removed."""
    raw = (existing or {}).get("queues")
    old_queues: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    queues: dict[str, Any] = {}
    for row in reported:
        old = old_queues.get(row.queue)
        queues[row.queue] = _membership(row, old if isinstance(old, Mapping) else {})
    removed = {
        name
        for name, old in old_queues.items()
        if name not in queues
        and _in_scope(snapshot, interface, name, old if isinstance(old, Mapping) else {})
    }
    remaining = (set(old_queues) - removed) | set(queues)
    if existing is not None and not remaining and (snapshot.full or removed):
        # In no queue Asterisk reports: Asterisk does not know this operator any more.
        return delete("operator", interface)
    queues.update(dict.fromkeys(removed))
    if not queues:
        return None
    data: dict[str, Any] = {"queues": queues}
    if reported:
        data["stateInterface"] = reported[0].state_interface
        data["status"] = _status(reported, devices)
    if not _changes(existing, data):
        return None
    staged: list[tuple[Path, Path, float]] = []
    if any(row.in_call for row in reported):
        # Mid-call: what each CallsTaken becomes when this call ends (see reducer.agents).
        staged = [
            (("queues", row.queue, "callsTaken"), (CALLS_AFTER_CALL[0], row.queue), 1)
            for row in reported
        ]
    return Patch("operator", interface, data, copy=staged)


# --- channels -----------------------------------------------------------------


def _plan_channels(
    reported: Sequence[CoreShowChannel], channels: Iterable[JsonObject], now: int
) -> list[Change]:
    current = _by_id(channels, "name")
    listed = {item.channel.channel: item for item in reported}
    changes: list[Change] = []
    for name, item in sorted(listed.items()):
        existing = current.get(name)
        data = channel_fields(item.channel)
        if existing is None:
            data["createdAt"] = now - item.duration * 1000
        if _changes(existing, data):
            changes.append(Patch("channel", name, data))
    changes += [delete("channel", name) for name in sorted(current) if name not in listed]
    return changes
