"""Drift: how far our live state is from what Asterisk (the simulator) reports.

The reference is Asterisk's own answer — QueueStatus, CoreShowChannels and
DeviceStateList as the simulator lists them — turned into corrections by the
product's own planner (`plan_reconcile`): the number of entities a
reconciliation would correct is the drift, operators, queues and channels
alike.

Service-level counts: Asterisk reports only percentages with one decimal, so
from 1000 calls in a queue on, the calls within the service level lost with
events during an outage can be recovered only to within one call. Such a
correction (±1 call, ±0.1 point) is counted as `sl_rounding`, not as drift.
"""

from __future__ import annotations

from collections import Counter

from ingest.clock import now_ms
from ingest.patches import JsonObject, Patch
from ingest.reconcile import AsteriskSnapshot, plan_reconcile
from ingest.store import StateStore
from simulator import AmiSimulator


def asterisk_snapshot(sim: AmiSimulator) -> AsteriskSnapshot:
    """What Asterisk would answer to the snapshot actions right now."""
    model = sim.model
    devices = [
        {"Event": "DeviceStateChange", "Device": device, "State": state}
        for device, state in model.device_states()
    ]
    return AsteriskSnapshot.from_messages(
        model.queue_status(), channels=model.core_show_channels(), device_states=devices
    )


_SERVICE_LEVEL = {
    "serviceLevelPerf",
    "serviceLevelPerf2",
    "completedInServiceLevel",
    "abandonedInServiceLevel",
}


def _sl_rounding(change: Patch, ours: JsonObject | None) -> bool:
    """A queue correction of service-level counts by one call, past 1000 calls."""
    if change.kind != "queue" or ours is None:
        return False
    wanted = getattr(change, "set", {}) or {}
    differing = {key for key, value in wanted.items() if ours.get(key) != value}
    if not differing or not differing <= _SERVICE_LEVEL:
        return False
    calls = int(wanted.get("completed", 0)) + int(wanted.get("abandoned", 0))
    close = all(
        abs(int(ours.get(key) or 0) - int(wanted.get(key) or 0)) <= 1
        for key in ("completedInServiceLevel", "abandonedInServiceLevel")
    )
    return calls >= 1000 and close


async def drift(sim: AmiSimulator, store: StateStore) -> dict[str, int]:
    """Corrections a reconciliation would make now, by kind."""
    counts, _ = await drift_details(sim, store)
    return counts


async def drift_details(
    sim: AmiSimulator, store: StateStore
) -> tuple[dict[str, int], list[tuple[Patch, JsonObject | None]]]:
    """`drift`, with each correction and the entity it would correct."""
    current = await store.snapshot()
    entities: dict[tuple[str, str], JsonObject] = {}
    for kind, items, key in (
        ("operator", current.operators, "memberId"),
        ("queue", current.queues, "name"),
        ("channel", current.channels, "name"),
    ):
        for item in items:
            entities[(kind, str(item.get(key)))] = item
    plan = plan_reconcile(asterisk_snapshot(sim), current, now_ms())
    counts: Counter[str] = Counter()
    details: list[tuple[Patch, JsonObject | None]] = []
    for change in plan:
        if not isinstance(change, Patch):
            continue  # a plan holds patches only
        ours = entities.get((change.kind, change.id))
        if _sl_rounding(change, ours):
            counts["sl_rounding"] += 1
            continue
        counts[change.kind] += 1
        details.append((change, entities.get((change.kind, change.id))))
    return {kind: counts[kind] for kind in ("operator", "queue", "channel", "sl_rounding")}, details


def describe(details: list[tuple[Patch, JsonObject | None]]) -> list[str]:
    """Each correction as `kind id: field ours -> Asterisk's` (readable assertion messages)."""
    lines = []
    for change, ours in details:
        if ours is None or getattr(change, "delete", False):
            lines.append(f"{change.kind} {change.id}: {'extra' if ours else 'missing'}")
            continue
        wanted = getattr(change, "set", {}) or {}
        fields = {
            key: (ours.get(key), value) for key, value in wanted.items() if ours.get(key) != value
        }
        lines.append(f"{change.kind} {change.id}: {fields}")
    return lines
