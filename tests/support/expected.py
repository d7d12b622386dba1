"""One shape for what Asterisk says and what we hold, to compare them field by field.

Asterisk's QueueStatus answers (recorded or live), a trace's
``expected.json``, the simulator's ``truth()`` and our Redis state are all
turned into a `View`: ``{"queues": {name: {...}}, "members": {queue:
{interface: {...}}}}`` with expected.json's keys and our status names. Two
views are equal exactly when every compared field agrees:

- queues: callers waiting (position, uniqueid, channel), completed,
  abandoned, hold and talk time, strategy;
- members, per queue: name, status, paused, reason, in call, calls taken,
  last call, penalty, membership, state interface, wrap-up time.

`channel_view` does the same for the live channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.domain import channel_state, status_from_device_state
from ingest.reconcile import AsteriskSnapshot
from ingest.store import Snapshot
from simulator.replay import RecordedList
from simulator.wire import header
from tests.support.traces import load_expected

View = dict[str, dict[str, Any]]

# (trace, queue, interface): members no event of the trace reveals.
NO_EVENT_TELLS = {("h_realtime", "rtq", "Local/1006@agents/n")}
# Members an event of the trace calls realtime (QueueStatus says static).
REALTIME = {
    ("h_realtime", "rtq", "Local/1001@agents/n"),
    ("h_realtime", "rtq", "Local/1004@agents/n"),
}


def _member_view(**fields: Any) -> dict[str, Any]:
    return fields


def asterisk_view(snapshot: AsteriskSnapshot) -> View:
    """A QueueStatus answer in expected.json's shape (status as our status name)."""
    queues: dict[str, Any] = {}
    members: dict[str, dict[str, Any]] = {p.queue: {} for p in snapshot.params}
    for p in snapshot.params:
        entries = sorted(
            (e for e in snapshot.entries if e.queue == p.queue), key=lambda e: e.position
        )
        queues[p.queue] = {
            "calls_waiting": p.calls,
            "completed": p.completed,
            "abandoned": p.abandoned,
            "holdtime": p.hold_time,
            "talktime": p.talk_time,
            "strategy": p.strategy,
            "waiting_callers": [(e.position, e.uniqueid, e.channel) for e in entries],
        }
    for row in snapshot.members:
        m = row.member
        members.setdefault(m.queue, {})[m.interface] = _member_view(
            name=m.member_name,
            status=status_from_device_state(m.status).value,
            paused=m.paused,
            paused_reason=m.paused_reason or "",
            in_call=bool(m.in_call),
            calls_taken=m.calls_taken,
            last_call=m.last_call,
            penalty=m.penalty,
            membership=m.membership,
            state_interface=m.state_interface,
            wrapuptime=m.wrapuptime,
        )
    return {"queues": queues, "members": members}


def recorded_snapshot(recorded: RecordedList) -> AsteriskSnapshot:
    """A recorded QueueStatus answer (a replay's point) as a snapshot, with its filters."""
    return AsteriskSnapshot.from_messages(
        recorded.plain_items(),
        queue=header(recorded.request, "Queue") or None,
        member=header(recorded.request, "Member") or None,
    )


def expected_json_view(trace: str) -> View:
    """expected.json itself, in the same shape."""
    expected = load_expected(trace)
    queues = {
        name: {**q, "waiting_callers": [tuple(c) for c in q["waiting_callers"]]}
        for name, q in expected["queues"].items()
    }
    members = {
        queue: {
            location: _member_view(
                **{
                    **m,
                    "status": status_from_device_state(m["status"]).value,
                    "paused": bool(m["paused"]),
                    "in_call": bool(m["in_call"]),
                }
            )
            for location, m in rows.items()
        }
        for queue, rows in expected["members"].items()
    }
    return {"queues": queues, "members": members}


def truth_view(truth: Mapping[str, Any]) -> View:
    """The simulator's `truth()` in the same shape (its extra keys left out)."""
    queues = {
        name: {
            "calls_waiting": q["calls_waiting"],
            "completed": q["completed"],
            "abandoned": q["abandoned"],
            "holdtime": q["holdtime"],
            "talktime": q["talktime"],
            "strategy": q["strategy"],
            "waiting_callers": [
                (c["position"], c["uniqueid"], c["channel"]) for c in q["waiting_callers"]
            ],
        }
        for name, q in truth["queues"].items()
    }
    members = {
        queue: {
            location: _member_view(
                name=m["name"],
                status=status_from_device_state(m["status"]).value,
                paused=bool(m["paused"]),
                paused_reason=m["paused_reason"],
                in_call=bool(m["in_call"]),
                calls_taken=m["calls_taken"],
                last_call=m["last_call"],
                penalty=m["penalty"],
                # QueueStatus' word for a realtime member.
                membership="static" if m["membership"] == "realtime" else m["membership"],
                state_interface=m["state_interface"],
                wrapuptime=m["wrapuptime"],
            )
            for location, m in rows.items()
        }
        for queue, rows in truth["members"].items()
    }
    return {"queues": queues, "members": members}


def state_view(state: Snapshot, scope: AsteriskSnapshot | None = None) -> View:
    """Our state in the same shape, within the scope of a QueueStatus answer.

    Without `scope`, every queue we hold (an unfiltered QueueStatus).
    """
    if scope is None:
        queue_names = {str(q["name"]) for q in state.queues}
        member_filter = None
    else:
        queue_names = {p.queue for p in scope.params} if scope.queue is None else {scope.queue}
        member_filter = scope.member
    queues: dict[str, Any] = {}
    for q in state.queues:
        if q["name"] not in queue_names:
            continue
        callers = sorted(q.get("callers", {}).values(), key=lambda c: c["position"])
        queues[q["name"]] = {
            "calls_waiting": q.get("callsWaiting"),
            "completed": q.get("completed"),
            "abandoned": q.get("abandoned"),
            "holdtime": q.get("holdTime"),
            "talktime": q.get("talkTime"),
            "strategy": q.get("strategy"),
            "waiting_callers": [(c["position"], c["uniqueId"], c["channel"]) for c in callers],
        }
    members: dict[str, dict[str, Any]] = {name: {} for name in queue_names}
    for op in state.operators:
        for queue, m in op.get("queues", {}).items():
            if queue not in queue_names:
                continue
            if member_filter is not None and member_filter not in (
                op["memberId"],
                m.get("memberName"),
            ):
                continue
            members[queue][op["memberId"]] = _member_view(
                name=m.get("memberName"),
                status=op.get("status"),
                paused=m.get("paused"),
                paused_reason=m.get("pausedReason"),
                in_call=m.get("inCall"),
                calls_taken=m.get("callsTaken"),
                last_call=m.get("lastCall"),
                penalty=m.get("penalty"),
                # QueueStatus' word for a realtime member.
                membership="static" if m.get("membership") == "realtime" else m.get("membership"),
                state_interface=op.get("stateInterface"),
                wrapuptime=m.get("wrapupTime"),
            )
    return {
        "queues": queues,
        "members": {q: rows for q, rows in members.items() if rows or q in queues},
    }


def without(view: View, trace: str, unknowable: set[tuple[str, str, str]]) -> View:
    """`view` without the (trace, queue, interface) members in `unknowable`."""
    members = {
        queue: {loc: m for loc, m in rows.items() if (trace, queue, loc) not in unknowable}
        for queue, rows in view["members"].items()
    }
    return {"queues": view["queues"], "members": members}


def without_fields(view: View, *fields: str) -> View:
    """`view` without these member fields (in every queue)."""
    members = {
        queue: {loc: {k: v for k, v in m.items() if k not in fields} for loc, m in rows.items()}
        for queue, rows in view["members"].items()
    }
    return {"queues": view["queues"], "members": members}


def channel_view(state: Snapshot) -> dict[str, dict[str, Any]]:
    """Our live channels by name: what CoreShowChannels would report of them."""
    return {
        str(ch["name"]): {
            "uniqueid": ch.get("uniqueId"),
            "state": ch.get("state"),
            "caller_id_num": ch.get("callerIdNum"),
            "context": ch.get("context"),
            "exten": ch.get("exten"),
        }
        for ch in state.channels
    }


def truth_channel_view(truth: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The simulator's live channels in `channel_view`'s shape."""
    return {
        name: {
            "uniqueid": ch["uniqueid"],
            "state": channel_state(ch["state"]).value,
            # Asterisk's "<unknown>" is "no caller id" to us.
            "caller_id_num": None
            if ch["caller_id_num"] in ("", "<unknown>")
            else ch["caller_id_num"],
            "context": ch["context"],
            "exten": ch["exten"],
        }
        for name, ch in truth["channels"].items()
    }
