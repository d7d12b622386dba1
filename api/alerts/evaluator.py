"""The pure part of alerting: (rules, live state, service levels, now) → observations,
and the hysteresis that turns observations into firing and resolved events.

`observe` measures, for every enabled rule, each subject it watches: every
queue it covers (queue kinds) or every operator who is a member of one of them
(the paused kind). `AlertTracker.update` keeps what is firing: it fires at once
when the condition holds and resolves once the value has been back past the
threshold by the rule's margin for its `clear_seconds` (see `api.alerts.rules`).
A value that cannot be told now (no answered call in the service-level window,
the database down) is None: it neither fires nor resolves. A subject that is
gone (queue deleted, operator no longer a member) and a rule removed or disabled
resolve at once. No I/O, no clock: the engine (`api.alerts.engine`) feeds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from api.alerts.rules import AlertRule, RuleKind
from ingest.patches import JsonObject

ServiceLevels = Mapping[tuple[str, int], float | None]
"""(queue, window minutes) → % answered within the queue's servicelevel (None: no data)."""
PauseStarts = Mapping[tuple[str, str], int]
"""(memberId, queue) → when that pause began (epoch ms), for paused memberships."""


class SubjectKind(Enum):
    """What an alert is about."""

    QUEUE = "queue"
    OPERATOR = "operator"


class AlertState(Enum):
    """Where an alert is in its life."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Subject:
    """A queue (by name) or an operator (by memberId)."""

    kind: SubjectKind
    id: str

    def __lt__(self, other: object) -> bool:  # Enum members do not order by themselves
        if not isinstance(other, Subject):
            return NotImplemented
        return (self.kind.value, self.id) < (other.kind.value, other.id)


@dataclass(frozen=True, slots=True)
class Observation:
    """One rule measured on one subject; `queue` is where (an operator's: the membership
    with the longest matching pause)."""

    rule: AlertRule
    subject: Subject
    queue: str | None
    value: float | None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert fired or resolved (or, from `AlertTracker.active`, still firing)."""

    state: AlertState
    rule: AlertRule
    subject: Subject
    queue: str | None
    value: float | None
    since_ms: int
    at_ms: int
    pbx: str | None = None
    """The PBX whose state fired it (PBXES; None: the one PBX)."""

    @property
    def text(self) -> str:
        """One line for people (Slack's `text`)."""
        rule, unit = self.rule, self.rule.kind.unit
        where = (
            f"queue {self.subject.id}"
            if self.subject.kind is SubjectKind.QUEUE
            else f"operator {self.subject.id}" + (f" in {self.queue}" if self.queue else "")
        )
        value = "n/a" if self.value is None else f"{_number(self.value)} {unit}"
        side = "under" if rule.kind.fires_below else "over"
        head = "FIRING" if self.state is AlertState.FIRING else "RESOLVED"
        if self.pbx is not None:
            where = f"{where} on PBX {self.pbx}"
        return (
            f"[{head}] {rule.name}: {where}, {_LABELS[rule.kind]} {value} "
            f"(alert {side} {_number(rule.threshold)} {unit})"
        )

    def as_json(self) -> dict[str, Any]:
        """The REST and webhook shape."""
        return {
            "state": self.state.value,
            "ruleId": self.rule.id,
            "ruleName": self.rule.name,
            "kind": self.rule.kind.value,
            "subjectType": self.subject.kind.value,
            "subject": self.subject.id,
            "queue": self.queue,
            "value": self.value,
            "threshold": self.rule.threshold,
            "since": _iso(self.since_ms),
            "at": _iso(self.at_ms),
            "text": self.text,
            **({} if self.pbx is None else {"pbx": self.pbx}),
        }


_LABELS = {
    RuleKind.LONGEST_WAIT: "longest wait",
    RuleKind.CALLERS_WAITING: "callers waiting",
    RuleKind.SERVICE_LEVEL: "service level",
    RuleKind.OPERATOR_PAUSED: "paused for",
    RuleKind.AVAILABLE_OPERATORS: "operators available",
}


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def observe(
    rules: Iterable[AlertRule],
    queues: Sequence[JsonObject],
    operators: Sequence[JsonObject],
    service_levels: ServiceLevels,
    pause_starts: PauseStarts,
    now_ms: int,
) -> list[Observation]:
    """Every enabled rule measured on every subject it watches. `queues` are queue views
    (`api.views.queue_view`: callsWaiting, longestWaitSeconds, members) taken at `now_ms`."""
    found: list[Observation] = []
    for rule in rules:
        if not rule.enabled:
            continue
        if rule.kind.watches_operators:
            found += _operators(rule, operators, pause_starts, now_ms)
            continue
        for view in queues:
            name = str(view.get("name"))
            if rule.covers_queue(name):
                subject = Subject(SubjectKind.QUEUE, name)
                found.append(
                    Observation(rule, subject, name, _queue_value(rule, view, service_levels))
                )
    return found


def _queue_value(rule: AlertRule, view: JsonObject, service_levels: ServiceLevels) -> float | None:
    if rule.kind is RuleKind.LONGEST_WAIT:
        return float(view.get("longestWaitSeconds") or 0)
    if rule.kind is RuleKind.CALLERS_WAITING:
        return float(view.get("callsWaiting") or 0)
    if rule.kind is RuleKind.AVAILABLE_OPERATORS:
        return float((view.get("members") or {}).get("available") or 0)
    window = rule.window_minutes or 0
    return service_levels.get((str(view.get("name")), window))


def _operators(
    rule: AlertRule, operators: Sequence[JsonObject], starts: PauseStarts, now_ms: int
) -> list[Observation]:
    found = []
    wanted = (rule.reason or "").casefold()
    for operator in operators:
        member_id = str(operator.get("memberId"))
        covered = [
            (queue, membership)
            for queue, membership in sorted((operator.get("queues") or {}).items())
            if isinstance(membership, dict) and rule.covers_queue(queue)
        ]
        if not covered:
            continue
        longest, where = 0.0, None
        for queue, membership in covered:
            if not membership.get("paused"):
                continue
            if wanted and str(membership.get("pausedReason") or "").casefold() != wanted:
                continue
            began = starts.get((member_id, queue))
            if began is None:
                continue
            minutes = max(0.0, (now_ms - began) / 60_000)
            if where is None or minutes > longest:
                longest, where = minutes, queue
        subject = Subject(SubjectKind.OPERATOR, member_id)
        found.append(Observation(rule, subject, where, round(longest, 2)))
    return found


class PauseClock:
    """When each paused membership's pause began: Asterisk's `lastPause` (epoch seconds)
    when it reports one, else the first time we saw it paused."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}

    def update(self, operators: Iterable[JsonObject], now_ms: int) -> dict[tuple[str, str], int]:
        """The pause starts of every paused membership in `operators`."""
        starts: dict[tuple[str, str], int] = {}
        seen: dict[tuple[str, str], int] = {}
        for operator in operators:
            member_id = str(operator.get("memberId"))
            for queue, membership in (operator.get("queues") or {}).items():
                if not isinstance(membership, dict) or not membership.get("paused"):
                    continue
                key = (member_id, queue)
                seen[key] = self._seen.get(key, now_ms)
                reported = membership.get("lastPause")
                if isinstance(reported, int | float) and 0 < reported * 1000 <= now_ms:
                    starts[key] = int(reported * 1000)
                else:
                    starts[key] = seen[key]
        self._seen = seen
        return starts


@dataclass(slots=True)
class _Active:
    rule: AlertRule
    queue: str | None
    value: float | None
    since_ms: int
    clear_from_ms: int | None = None


class AlertTracker:
    """What is firing, per (rule id, subject), with the hysteresis of the module's doc."""

    def __init__(self) -> None:
        self._active: dict[tuple[int, Subject], _Active] = {}

    def active(self, now_ms: int) -> list[AlertEvent]:
        """Every firing alert, by rule id and subject, with its latest value."""
        return [
            AlertEvent(AlertState.FIRING, a.rule, subject, a.queue, a.value, a.since_ms, now_ms)
            for (_, subject), a in sorted(self._active.items(), key=lambda item: item[0])
        ]

    def update(
        self, rules: Iterable[AlertRule], observations: Iterable[Observation], now_ms: int
    ) -> list[AlertEvent]:
        """Apply one round of observations (of every enabled rule in `rules`); the alerts
        that fired or resolved, in (rule id, subject) order."""
        enabled = {rule.id: rule for rule in rules if rule.enabled}
        events: list[AlertEvent] = []
        observed: set[tuple[int, Subject]] = set()
        for obs in observations:
            key = (obs.rule.id, obs.subject)
            observed.add(key)
            event = self._observe(key, obs, now_ms)
            if event is not None:
                events.append(event)
        for key in sorted(set(self._active) - observed):
            # The rule was removed or disabled, or its subject is gone: nothing to wait for.
            active = self._active.pop(key)
            value = active.value if key[0] not in enabled else None
            rule = enabled.get(key[0], active.rule)
            events.append(
                AlertEvent(
                    AlertState.RESOLVED, rule, key[1], active.queue, value, active.since_ms, now_ms
                )
            )
        events.sort(key=lambda e: (e.rule.id, e.subject))
        return events

    def _observe(
        self, key: tuple[int, Subject], obs: Observation, now_ms: int
    ) -> AlertEvent | None:
        if obs.value is None:
            return None  # cannot be told now: neither fire nor resolve
        rule, active = obs.rule, self._active.get(key)
        if active is None:
            if not rule.breached(obs.value):
                return None
            self._active[key] = _Active(rule, obs.queue, obs.value, now_ms)
            return AlertEvent(
                AlertState.FIRING, rule, obs.subject, obs.queue, obs.value, now_ms, now_ms
            )
        active.rule, active.value = rule, obs.value
        active.queue = obs.queue or active.queue
        if not rule.cleared(obs.value):
            active.clear_from_ms = None
            return None
        if active.clear_from_ms is None:
            active.clear_from_ms = now_ms
        if now_ms - active.clear_from_ms < rule.clear_seconds * 1000:
            return None
        del self._active[key]
        return AlertEvent(
            AlertState.RESOLVED, rule, obs.subject, active.queue, obs.value, active.since_ms, now_ms
        )
