"""Replay of recorded Asterisk 22 sessions through the real pipeline and store.

Every trace starts from a freshly started Asterisk with the lab's
configuration: the initial state is a_startup's first QueueStatus (for
h_realtime, its own first QueueStatus), applied through reconciliation. Then
the trace's unsolicited events go through `EventPipeline` in recorded order
and time. The state must equal every QueueStatus the trace contains, at the
point it was taken, and the final one (``<trace>.expected.json``):

- queues: callers waiting (position, channel), completed, abandoned, hold and
  talk time, strategy;
- members, per queue: status, paused, reason, calls taken, penalty, in call,
  last call, name, membership, state interface, wrap-up time;
- no channel left once the calls hung up.

Known and explained: h_realtime's Frank RT is a database row Asterisk loaded
without any event, so events alone cannot know him (the next QueueStatus or
the database sync adds him); and a realtime member stays ``realtime`` where
QueueStatus says ``static``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.ami.parser import TRACKED_EVENTS
from ingest.patches import Change, Patch, merge
from ingest.pipeline import EventPipeline
from ingest.reconcile import AsteriskSnapshot, plan_reconcile
from ingest.runners.file_runner import list_answers, run_file, run_recording, stamp_ms
from ingest.store import Snapshot, StateStore
from ingest.traces import load_jsonl, load_sent, trace_names
from tests.support.expected import (
    NO_EVENT_TELLS,
    REALTIME,
    asterisk_view,
    expected_json_view,
    state_view,
    without,
)
from tests.support.traces import load_expected

TRACES = trace_names()


def test_every_trace_is_here() -> None:
    assert TRACES == [
        "a_startup",
        "b_single_call",
        "c_ringnoanswer",
        "d_abandon",
        "e_member_admin",
        "h_realtime",
    ]


# --- the trace's own QueueStatus answers ------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A QueueStatus answer: where it completed, and what it said."""

    action_id: str
    index: int
    recv_ts: float
    snapshot: AsteriskSnapshot


@cache
def checkpoints(trace: str) -> tuple[Checkpoint, ...]:
    messages = load_jsonl(trace)
    found = []
    for answer in list_answers(messages, load_sent(trace)):
        snapshot = answer.snapshot()
        if snapshot is not None and snapshot.has_queue_status:
            index = answer.complete_index
            found.append(Checkpoint(answer.action_id, index, messages[index][0], snapshot))
    return tuple(found)


def initial(trace: str) -> Checkpoint:
    """The state every trace starts from (see the module docstring)."""
    return checkpoints("h_realtime" if trace == "h_realtime" else "a_startup")[0]


def final(trace: str) -> Checkpoint:
    """The QueueStatus expected.json was taken from."""
    source = load_expected(trace)["source"]
    (checkpoint,) = [c for c in checkpoints(trace) if c.action_id == source["ActionID"]]
    assert checkpoint.index == source["complete_message_index"]
    return checkpoint


# The views compared below (Asterisk's answers, expected.json, our state) are built by
# tests.support.expected, shared with the socket replay and the fault tests.


@pytest.mark.parametrize("trace", TRACES)
def test_our_reading_of_queue_status_matches_expected_json(trace: str) -> None:
    """The converter the checkpoints use agrees with the recorder's own end state."""
    assert asterisk_view(final(trace).snapshot) == expected_json_view(trace)


# --- events alone -------------------------------------------------------------------


async def _start(trace: str, store: StateStore) -> EventPipeline:
    pipeline = EventPipeline(store)
    start = initial(trace)
    await pipeline.reconcile(start.snapshot, now=stamp_ms(start.recv_ts))
    return pipeline


@pytest.mark.parametrize("trace", TRACES)
async def test_events_alone_reach_every_queue_status_of_the_trace(
    trace: str, store: StateStore
) -> None:
    pipeline = await _start(trace, store)
    messages = load_jsonl(trace)
    position = 0
    for checkpoint in checkpoints(trace):
        await run_recording(pipeline, messages, start=position, stop=checkpoint.index)
        position = checkpoint.index
        state = await store.snapshot()
        expected = without(asterisk_view(checkpoint.snapshot), trace, NO_EVENT_TELLS)
        assert state_view(state, checkpoint.snapshot) == expected, checkpoint.action_id
    await run_recording(pipeline, messages, start=position)

    state = await store.snapshot()
    expected = without(expected_json_view(trace), trace, NO_EVENT_TELLS)
    assert state_view(state, final(trace).snapshot) == expected
    assert state.channels == [], "a channel outlived its Hangup"
    for _, queue, location in NO_EVENT_TELLS & {(trace, q, loc) for q, loc in _all_members(state)}:
        pytest.fail(f"{location} in {queue} cannot be known from events")
    operators = {op["memberId"]: op for op in state.operators}
    for t, queue, location in REALTIME:
        if t == trace:
            assert operators[location]["queues"][queue]["membership"] == "realtime"


def _all_members(state: Snapshot) -> set[tuple[str, str]]:
    return {(queue, op["memberId"]) for op in state.operators for queue in op.get("queues", {})}


def corrected_fields(plan: list[Change], state: Snapshot) -> set[tuple[str, str, str]]:
    """What a plan corrects: (kind, id, dotted field), or <created>/<removed>."""
    current = {
        **{("operator", e["memberId"]): e for e in state.operators},
        **{("queue", e["name"]): e for e in state.queues},
        **{("channel", e["name"]): e for e in state.channels},
    }
    found: set[tuple[str, str, str]] = set()

    def diff(kind: str, entity_id: str, old: Any, new: Any, path: str) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for key in set(old) | set(new):
                diff(kind, entity_id, old.get(key), new.get(key), f"{path}.{key}".lstrip("."))
        elif old != new:
            found.add((kind, entity_id, path))

    for change in plan:
        assert isinstance(change, Patch)
        existing = current.get((change.kind, change.id))
        if change.delete:
            found.add((change.kind, change.id, "<removed>"))
        elif existing is None:
            found.add((change.kind, change.id, "<created>"))
        else:
            diff(change.kind, change.id, existing, merge(existing, change.set), "")
    return found


def explained(trace: str, correction: tuple[str, str, str]) -> bool:
    """A correction events cannot avoid in these recordings."""
    kind, entity_id, field = correction
    if (trace, kind, entity_id, field) == (
        "h_realtime",
        "operator",
        "Local/1006@agents/n",
        "<created>",
    ):
        return True  # Frank RT: a database row, no event
    # Each trace ran on a freshly started Asterisk, not the one a_startup's state
    # (the initial state) came from: members no event mentions keep a_startup's LoginTime.
    return trace not in ("a_startup", "h_realtime") and field.endswith(".loginTime")


@pytest.mark.parametrize("trace", TRACES)
async def test_at_each_queue_status_the_events_left_nothing_to_correct(
    trace: str, store: StateStore
) -> None:
    pipeline = await _start(trace, store)
    messages = load_jsonl(trace)
    position = 0
    for checkpoint in checkpoints(trace):
        await run_recording(pipeline, messages, start=position, stop=checkpoint.index)
        position = checkpoint.index
        now = stamp_ms(checkpoint.recv_ts)
        state = await store.snapshot()
        plan = plan_reconcile(checkpoint.snapshot, state, now)
        unexplained = {c for c in corrected_fields(plan, state) if not explained(trace, c)}
        assert unexplained == set(), checkpoint.action_id
        # Reconciled as the live connection would: the drift is the plan.
        assert await pipeline.reconcile(checkpoint.snapshot, now=now) == len(plan)
        assert await pipeline.reconcile(checkpoint.snapshot, now=now) == 0


async def test_the_file_runner_reconciles_the_answers_of_a_recording(store: StateStore) -> None:
    pipeline = await _start("e_member_admin", store)
    result = await run_file(pipeline, "e_member_admin", snapshots=True)
    assert (result.messages, result.snapshots) == (196, 3)
    assert result.events == pipeline.counters.received
    assert result.applied == pipeline.applied > 0
    state = await store.snapshot()
    assert state_view(state, final("e_member_admin").snapshot) == expected_json_view(
        "e_member_admin"
    )


# --- reconciliation alone -------------------------------------------------------------


def raw_items(trace: str) -> list[dict[str, str]]:
    """expected.json's ``raw`` QueueParams/QueueMember/QueueEntry items, as received."""
    raw = load_expected(trace)["raw"]
    items: list[dict[str, str]] = list(raw["QueueParams"].values())
    for kind in ("QueueMember", "QueueEntry"):
        for rows in raw[kind].values():
            items.extend(rows)
    return items


def _garbage(queue: str) -> list[Patch]:
    """A state that is wrong in every way reconciliation must correct."""
    return [
        Patch("operator", "PJSIP/ghost", {"status": "idle", "queues": {queue: {"penalty": 0}}}),
        Patch("operator", "PJSIP/nowhere", {"status": "idle"}),
        Patch("queue", queue, {"completed": 99, "callers": {"ghost.1": {"position": 1}}}),
        Patch("queue", "elsewhere", {"strategy": "ringall"}),
        Patch("operator", "PJSIP/elsewhere", {"queues": {"elsewhere": {"paused": True}}}),
        Patch("channel", "Local/ghost-00000001;1", {"state": "up"}),
    ]


@pytest.mark.parametrize("start", ["empty", "wrong"])
@pytest.mark.parametrize("trace", TRACES)
async def test_reconciliation_alone_reaches_the_final_state(
    trace: str, start: str, store: StateStore
) -> None:
    pipeline = EventPipeline(store)
    end = final(trace)
    # The recorder's own items, as the connection collects them; channels: none left.
    snapshot = AsteriskSnapshot.from_messages(
        raw_items(trace), channels=[], queue=end.snapshot.queue, member=end.snapshot.member
    )
    if start == "wrong":
        await _start(trace, store)
        await store.apply(_garbage(next(iter(load_expected(trace)["queues"]))))
    corrections = await pipeline.reconcile(snapshot, now=stamp_ms(end.recv_ts))
    assert corrections > 0

    state = await store.snapshot()
    assert state_view(state, snapshot) == expected_json_view(trace)
    assert state.channels == []
    ids = {op["memberId"] for op in state.operators}
    assert "PJSIP/ghost" not in ids
    if start == "wrong":
        # A queue-filtered QueueStatus says nothing about other queues.
        filtered = snapshot.queue is not None
        assert ("PJSIP/elsewhere" in ids) is filtered
        assert ("elsewhere" in {q["name"] for q in state.queues}) is filtered

    # The same snapshot again: nothing to correct, nothing written.
    version = await store.version()
    assert await pipeline.reconcile(snapshot, now=stamp_ms(end.recv_ts) + 1_000) == 0
    assert await store.version() == version


# --- what we do not track changes nothing ---------------------------------------------

_TRACKED = {name.lower() for name in TRACKED_EVENTS}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_unknown_event = st.text(alphabet=_LETTERS, min_size=1, max_size=24).filter(
    lambda name: name.lower() not in _TRACKED
)
# Tracked events without their required fields: malformed, counted, ignored.
_malformed_event = st.sampled_from(
    sorted(
        name
        for name in TRACKED_EVENTS
        if name not in {"FullyBooted", "Reload", "Shutdown"} and not name.endswith("Complete")
    )
)
# Header names no event uses, so a tracked event never gets its fields by chance.
_headers = st.dictionaries(
    st.text(alphabet="XYZ_0123456789", min_size=1, max_size=12).map(lambda k: f"X-{k}"),
    st.text(max_size=40),
    max_size=6,
)


@st.composite
def _messages(draw: st.DrawFn) -> dict[str, str]:
    return {"Event": draw(st.one_of(_unknown_event, _malformed_event)), **draw(_headers)}


@pytest.fixture
async def replayed(store: StateStore) -> EventPipeline:
    """A store holding b_single_call's end state."""
    pipeline = await _start("b_single_call", store)
    await run_recording(pipeline, load_jsonl("b_single_call"))
    return pipeline


@settings(
    max_examples=60,
    deadline=None,
    # The store fixture is per test, not per example: fine, since nothing may change.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(_messages(), min_size=1, max_size=8))
async def test_unknown_and_malformed_events_change_nothing(
    replayed: EventPipeline, batch: list[dict[str, str]]
) -> None:
    store = replayed.store
    version = await store.version()
    assert await replayed.apply(batch, now=2_000_000_000_000) == 0
    assert await store.version() == version
