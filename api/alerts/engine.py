"""The alert engine of the API process: rules in, events out.

Attached to the live broadcaster as a listener (`api.broadcast.Listener`): each
change batch only wakes the engine's task, which then evaluates the live
mirror once for however many batches came (at most every `MIN_GAP` seconds),
so neither the broadcaster nor the ingest ever waits for an evaluation. It
also evaluates every ALERT_EVALUATE_INTERVAL seconds, when it first refreshes
the service levels from the call records (a longest wait grows without any
change). Rules are read from PostgreSQL at start, right after an admin changes
one (`rules_changed`), and every `RULES_REFRESH` seconds (another process may
have changed them).

Events go to the `alerts` subscribers (a bounded queue each, as the live
subscriptions), to `/metrics` and to the webhooks (`api.alerts.webhooks`).
What fires is held in memory: after a restart an alert whose condition still
holds fires again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

from api.alerts.evaluator import (
    AlertEvent,
    AlertState,
    AlertTracker,
    PauseClock,
    ServiceLevels,
    observe,
)
from api.alerts.health import AlertHealth
from api.alerts.metrics import AlertMetrics
from api.alerts.rules import AlertRule, RuleKind
from api.alerts.service_level import ServiceLevelSource
from api.alerts.store import RuleStore
from api.alerts.webhooks import WebhookSender
from api.broadcast import Subscriber
from api.errors import ApiError
from api.live import LiveEvent, LiveState
from ingest.clock import now_ms
from ingest.logs import get_logger
from ingest.tasks import cancel_and_wait

log = get_logger("Alerts")

MIN_GAP = 0.2
RULES_REFRESH = 30.0


class AlertEngine:
    """Evaluates the rules against the live mirror and publishes what fires and resolves."""

    def __init__(
        self,
        mirror: LiveState,
        rules: RuleStore,
        service_levels: ServiceLevelSource,
        webhooks: WebhookSender,
        metrics: AlertMetrics,
        *,
        interval: float = 5.0,
        buffer_size: int = 500,
        clock: Callable[[], int] = now_ms,
        pbx: str | None = None,
    ) -> None:
        self._pbx = pbx
        """The PBX whose mirror it watches (PBXES): its rules are those of this PBX and
        of every PBX, its events name it. None: the one PBX, every rule."""
        self._mirror = mirror
        self._store = rules
        self._levels_source = service_levels
        self._webhooks = webhooks
        self._metrics = metrics
        self._interval = interval
        self._buffer_size = buffer_size
        self._clock = clock
        self._rules: list[AlertRule] = []
        self._rules_loaded = False
        self._rules_due = 0.0
        """When (loop time) to read the rules next; 0: now."""
        self._levels: ServiceLevels = {}
        self._tracker = AlertTracker()
        self._pauses = PauseClock()
        self._subscribers: set[Subscriber[AlertEvent]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing: str | None = None
        self._last_error: str | None = None
        self._rules_error: str | None = None
        """Why the last read of the rules failed (None: it worked, or none yet)."""
        self._rules_read_at: int | None = None
        self._evaluated_at: int | None = None
        metrics.active.set_function(lambda: len(self._tracker.active(0)))
        metrics.rules.set_function(lambda: len(self._rules))
        metrics.last_evaluation.set_function(lambda: (self._evaluated_at or 0) / 1000)

    # --- the broadcaster's listener ----------------------------------------------------

    @property
    def count(self) -> int:
        """The `alerts` subscriptions served."""
        return len(self._subscribers)

    def offer(self, event: LiveEvent) -> None:
        """A change batch (or reload) was applied to the mirror: evaluate soon."""
        self._wake.set()

    def start(self) -> None:
        """Start the webhooks and the evaluation task (idempotent)."""
        if self._task is None:
            self._webhooks.start()
            self._task = asyncio.create_task(self._run(), name="alert-engine")

    async def stop(self) -> None:
        """Stop evaluating, end every `alerts` subscription, stop the webhooks."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        for subscriber in tuple(self._subscribers):
            subscriber.end()
        self._subscribers.clear()
        await self._webhooks.stop()

    # --- what the API reads ------------------------------------------------------------

    @property
    def rules(self) -> Sequence[AlertRule]:
        """The rules as last loaded."""
        return tuple(self._rules)

    def active(self) -> list[AlertEvent]:
        """Every alert firing now, with its latest value."""
        return self._named(self._tracker.active(self._clock()))

    def _named(self, events: list[AlertEvent]) -> list[AlertEvent]:
        if self._pbx is None:
            return events
        return [replace(event, pbx=self._pbx) for event in events]

    def health(self) -> AlertHealth:
        """What /healthz says of the alerts (the same figures as /metrics)."""
        webhooks = self._webhooks.counts
        return AlertHealth(
            rules=len(self._rules),
            rules_loaded=self._rules_loaded,
            rules_read_at=self._rules_read_at,
            rules_error=self._rules_error,
            active=len(self._tracker.active(self._clock())),
            evaluated_at=self._evaluated_at,
            webhooks_waiting=self._webhooks.pending,
            webhooks_delivered=webhooks.delivered,
            webhooks_failed=webhooks.failed,
            webhooks_dropped=webhooks.dropped,
            last_error=self._last_error,
        )

    def rules_changed(self) -> None:
        """An admin changed a rule: reload them and evaluate now."""
        self._rules_due = 0.0
        self._wake.set()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[tuple[Subscriber[AlertEvent], list[AlertEvent]]]:
        """Join: (the stream of events, what fires now); leave on exit. Nothing awaits
        before the yield, so no event falls between the two."""
        subscriber: Subscriber[AlertEvent] = Subscriber(self._buffer_size)
        self._subscribers.add(subscriber)
        try:
            yield subscriber, self.active()
        finally:
            self._subscribers.discard(subscriber)

    # --- the task ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            if loop.time() >= self._rules_due:
                loaded = await self._load_rules()
                # A failed read is retried at the next tick, not at every change batch.
                self._rules_due = loop.time() + (RULES_REFRESH if loaded else self._interval)
                if loaded:
                    next_tick = loop.time()  # new rules: fresh service levels now
            if loop.time() >= next_tick:
                await self._refresh_service_levels()
                next_tick = loop.time() + self._interval
            self._wake.clear()
            self.evaluate()
            try:
                async with asyncio.timeout(max(0.0, next_tick - loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                continue
            await asyncio.sleep(MIN_GAP)  # a burst of batches: one evaluation

    def evaluate(self) -> list[AlertEvent]:
        """One evaluation of the loaded rules against the mirror; publishes and returns
        the events. Nothing is evaluated before the mirror and the rules are loaded (an
        empty state would resolve everything)."""
        if not self._mirror.loaded or not self._rules_loaded:
            return []
        now = self._clock()
        operators = self._mirror.operators()
        starts = self._pauses.update(operators, now)
        observations = observe(
            self._rules, self._mirror.queue_views(now), operators, self._levels, starts, now
        )
        events = self._named(self._tracker.update(self._rules, observations, now))
        self._evaluated_at = now
        for event in events:
            self._publish(event)
        return events

    async def _load_rules(self) -> bool:
        try:
            self._rules = [rule for rule in await self._store.list() if rule.covers_pbx(self._pbx)]
        except Exception as exc:  # the database down: keep the rules we have, retry
            self._rules_error = _problem("read the alert rules", exc)
            self._failed("read the alert rules", exc)
            return False
        self._rules_loaded = True
        self._rules_error = None
        self._rules_read_at = self._clock()
        self._recovered()
        return True

    async def _refresh_service_levels(self) -> None:
        wanted = self._service_level_pairs()
        if not wanted:
            self._levels = {}
            return
        levels = {
            str(view.get("name")): int(view.get("serviceLevel") or 0)
            for view in self._mirror.queue_views()
        }
        try:
            self._levels = await self._levels_source.service_levels(wanted, levels, self._clock())
        except Exception as exc:  # unknown, not zero: service-level rules hold their state
            self._levels = {}
            self._failed("read recent service levels", exc)
            return
        self._recovered()

    def _service_level_pairs(self) -> list[tuple[str, int]]:
        rules = [r for r in self._rules if r.enabled and r.kind is RuleKind.SERVICE_LEVEL]
        if not rules:
            return []
        names = [str(view.get("name")) for view in self._mirror.queue_views()]
        return sorted(
            {
                (name, rule.window_minutes or 0)
                for rule in rules
                for name in names
                if rule.covers_queue(name)
            }
        )

    def _publish(self, event: AlertEvent) -> None:
        self._metrics.events.labels(state=event.state.value).inc()
        log.log(
            30 if event.state is AlertState.FIRING else 20,
            "Alert %s: rule %d (%s) on %s %s, value %s",
            event.state.value,
            event.rule.id,
            event.rule.kind.value,
            event.subject.kind.value,
            event.subject.id,
            event.value,
        )
        self._webhooks.submit(event)
        for subscriber in tuple(self._subscribers):
            if not subscriber.offer(event):
                self._subscribers.discard(subscriber)

    def _failed(self, action: str, exc: Exception) -> None:
        self._metrics.evaluation_errors.inc()
        self._last_error = _problem(action, exc)
        if self._failing is None:
            log.warning("Alerts cannot %s (%s); retrying", action, type(exc).__name__)
        self._failing = action

    def _recovered(self) -> None:
        if self._failing is not None:
            log.info("Alerts recovered: the database answers again")
            self._failing = None
            self._last_error = None


def _problem(action: str, exc: Exception) -> str:
    """What /healthz says of a failure: the store's own words (they name no URL and no
    value) or the error's kind, never a driver's message (it may hold the URL)."""
    if isinstance(exc, ApiError):
        return exc.message
    return f"cannot {action}: {type(exc).__name__}"
