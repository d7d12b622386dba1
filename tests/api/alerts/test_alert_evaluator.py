"""The pure evaluator: each kind measured, per queue or every queue, and the hysteresis."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from api.alerts.evaluator import (
    AlertState,
    AlertTracker,
    Observation,
    PauseClock,
    Subject,
    SubjectKind,
    observe,
)
from api.alerts.rules import AlertRule, InvalidRule, RuleKind, RuleSpec, validate
from ingest.patches import JsonObject

NOW = 1_800_000_000_000


def rule(kind: RuleKind, threshold: float, **fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "id": 1,
        "name": "r",
        "kind": kind,
        "threshold": threshold,
        "queue": None,
        "window_minutes": None,
        "reason": None,
        "clear_seconds": 0,
        "clear_margin": 0.0,
        "enabled": True,
        "webhook_url": None,
    }
    values.update(fields)
    return AlertRule(**values)


def queue(name: str, waiting: int = 0, longest: int = 0, available: int = 0) -> JsonObject:
    return {
        "name": name,
        "callsWaiting": waiting,
        "longestWaitSeconds": longest,
        "members": {"available": available},
    }


def operator(member_id: str, **queues: dict[str, Any]) -> JsonObject:
    return {"memberId": member_id, "queues": queues}


def values(observations: list[Observation]) -> dict[str, float | None]:
    return {o.subject.id: o.value for o in observations}


def test_queue_kinds_measure_each_covered_queue() -> None:
    queues = [queue("sales", waiting=3, longest=70, available=1), queue("support", 0, 0, 4)]
    measured = {
        kind: values(observe([rule(kind, 1)], queues, [], {}, {}, NOW))
        for kind in (RuleKind.LONGEST_WAIT, RuleKind.CALLERS_WAITING, RuleKind.AVAILABLE_OPERATORS)
    }
    assert measured == {
        RuleKind.LONGEST_WAIT: {"sales": 70, "support": 0},
        RuleKind.CALLERS_WAITING: {"sales": 3, "support": 0},
        RuleKind.AVAILABLE_OPERATORS: {"sales": 1, "support": 4},
    }
    one_queue = observe(
        [rule(RuleKind.CALLERS_WAITING, 1, queue="support")], queues, [], {}, {}, NOW
    )
    assert values(one_queue) == {"support": 0}


def test_service_level_comes_from_the_figures_and_is_unknown_without_them() -> None:
    sl = rule(RuleKind.SERVICE_LEVEL, 80, window_minutes=30)
    queues = [queue("sales"), queue("support")]
    found = observe([sl], queues, [], {("sales", 30): 75.0}, {}, NOW)
    assert values(found) == {"sales": 75.0, "support": None}


def test_paused_operator_takes_the_longest_matching_pause() -> None:
    ops = [
        operator(
            "PJSIP/1",
            sales={"paused": True, "pausedReason": "Lunch"},
            support={"paused": True, "pausedReason": "coffee"},
        ),
        operator("PJSIP/2", sales={"paused": False}),
        operator("PJSIP/3", billing={"paused": True, "pausedReason": "lunch"}),
    ]
    starts = {
        ("PJSIP/1", "sales"): NOW - 10 * 60_000,
        ("PJSIP/1", "support"): NOW - 30 * 60_000,
        ("PJSIP/3", "billing"): NOW - 5 * 60_000,
    }
    any_reason = observe([rule(RuleKind.OPERATOR_PAUSED, 5)], [], ops, {}, starts, NOW)
    assert values(any_reason) == {"PJSIP/1": 30.0, "PJSIP/2": 0.0, "PJSIP/3": 5.0}
    assert [o.queue for o in any_reason] == ["support", None, "billing"]
    lunch = observe([rule(RuleKind.OPERATOR_PAUSED, 5, reason="lunch")], [], ops, {}, starts, NOW)
    assert values(lunch) == {"PJSIP/1": 10.0, "PJSIP/2": 0.0, "PJSIP/3": 5.0}
    in_sales = observe([rule(RuleKind.OPERATOR_PAUSED, 5, queue="sales")], [], ops, {}, starts, NOW)
    assert values(in_sales) == {"PJSIP/1": 10.0, "PJSIP/2": 0.0}


def test_pause_clock_prefers_asterisks_last_pause_and_forgets_unpaused() -> None:
    clock = PauseClock()
    paused = [
        operator("PJSIP/1", sales={"paused": True, "lastPause": (NOW - 60_000) // 1000}),
        operator("PJSIP/2", sales={"paused": True, "lastPause": 0}),
    ]
    assert clock.update(paused, NOW) == {
        ("PJSIP/1", "sales"): NOW - 60_000,
        ("PJSIP/2", "sales"): NOW,
    }
    # Still paused a minute later: the first sighting stays the start.
    assert clock.update(paused, NOW + 60_000)[("PJSIP/2", "sales")] == NOW
    clock.update([operator("PJSIP/2", sales={"paused": False})], NOW + 70_000)
    assert clock.update(paused, NOW + 80_000)[("PJSIP/2", "sales")] == NOW + 80_000


def test_disabled_rules_are_not_measured() -> None:
    off = rule(RuleKind.CALLERS_WAITING, 0, enabled=False)
    assert observe([off], [queue("sales", waiting=5)], [], {}, {}, NOW) == []


def _step(
    tracker: AlertTracker, r: AlertRule, value: float | None, at: int, name: str = "sales"
) -> list[tuple[str, float | None]]:
    obs = [Observation(r, Subject(SubjectKind.QUEUE, name), name, value)]
    return [(e.state.value, e.value) for e in tracker.update([r], obs, at)]


def test_fires_at_once_and_resolves_after_clear_seconds_past_the_margin() -> None:
    r = rule(RuleKind.LONGEST_WAIT, 60, clear_seconds=10, clear_margin=5)
    tracker = AlertTracker()
    assert _step(tracker, r, 60, NOW) == []  # at the threshold: not over it
    assert _step(tracker, r, 61, NOW + 1000) == [("firing", 61)]
    assert _step(tracker, r, 90, NOW + 2000) == []  # still firing, no new event
    assert _step(tracker, r, 58, NOW + 3000) == []  # back under, but not by the margin
    assert _step(tracker, r, 55, NOW + 4000) == []  # past the margin: the clock starts
    assert _step(tracker, r, 61, NOW + 9000) == []  # breached again: the clock resets
    assert _step(tracker, r, 50, NOW + 10_000) == []
    assert _step(tracker, r, 50, NOW + 19_999) == []
    assert _step(tracker, r, 50, NOW + 20_000) == [("resolved", 50)]
    assert tracker.active(NOW + 20_000) == []


def test_below_kinds_fire_under_the_threshold() -> None:
    r = rule(RuleKind.SERVICE_LEVEL, 80, window_minutes=15, clear_margin=2)
    tracker = AlertTracker()
    assert _step(tracker, r, 85, NOW) == []
    assert _step(tracker, r, 79.5, NOW + 1) == [("firing", 79.5)]
    assert _step(tracker, r, 81, NOW + 2) == []  # over 80 but not 82
    assert _step(tracker, r, None, NOW + 3) == []  # unknown: holds its state
    assert len(tracker.active(NOW + 3)) == 1
    assert _step(tracker, r, 82, NOW + 4) == [("resolved", 82)]


def test_a_removed_rule_or_a_gone_subject_resolves_at_once() -> None:
    r = rule(RuleKind.CALLERS_WAITING, 0, clear_seconds=600)
    tracker = AlertTracker()
    assert _step(tracker, r, 2, NOW) == [("firing", 2)]
    gone = tracker.update([r], [], NOW + 1)
    assert [(e.state, e.subject.id, e.value) for e in gone] == [
        (AlertState.RESOLVED, "sales", None)
    ]
    assert _step(tracker, r, 2, NOW + 2) == [("firing", 2)]
    removed = tracker.update([], [], NOW + 3)
    assert [(e.state, e.value) for e in removed] == [(AlertState.RESOLVED, 2)]


def test_every_queue_rule_fires_per_queue() -> None:
    r = rule(RuleKind.CALLERS_WAITING, 0)
    tracker = AlertTracker()
    queues = [queue("billing", waiting=1), queue("sales", waiting=0), queue("support", waiting=2)]
    events = tracker.update([r], observe([r], queues, [], {}, {}, NOW), NOW)
    assert [(e.subject.id, e.state.value) for e in events] == [
        ("billing", "firing"),
        ("support", "firing"),
    ]
    assert "[FIRING] r: queue billing, callers waiting 1 callers" in events[0].text
    assert events[0].as_json()["since"] == "2027-01-15T08:00:00Z"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "name"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"kind": RuleKind.SERVICE_LEVEL, "threshold": 80}, "windowMinutes"),
        ({"kind": RuleKind.SERVICE_LEVEL, "threshold": 101, "window_minutes": 5}, "threshold"),
        ({"window_minutes": 5}, "windowMinutes"),
        ({"reason": "lunch"}, "reason"),
        ({"queue": "bad queue"}, "queue"),
        ({"clear_seconds": -1}, "clearSeconds"),
        ({"webhook_url": "ftp://example.com/x"}, "webhookUrl"),
        ({"webhook_url": "https://"}, "webhookUrl"),
    ],
)
def test_validation_names_the_field(changes: dict[str, Any], message: str) -> None:
    spec = dataclasses.replace(
        RuleSpec(name="r", kind=RuleKind.LONGEST_WAIT, threshold=60), **changes
    )
    with pytest.raises(InvalidRule, match=message):
        validate(spec)


def test_validation_trims_and_keeps_a_valid_rule() -> None:
    spec = RuleSpec(
        name=" Long pause ",
        kind=RuleKind.OPERATOR_PAUSED,
        threshold=15,
        queue=" ",
        reason=" lunch ",
        webhook_url="https://hooks.example.com/T/B/secret",
    )
    valid = validate(spec)
    assert (valid.name, valid.queue, valid.reason) == ("Long pause", None, "lunch")
