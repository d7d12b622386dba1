"""Subscriptions served as groups: execute once, send the same bytes to every socket.

A thousand wallboards subscribed to `changes` while 500 changes a second go
by would be half a million frames a second if each subscription executed and
sent every batch on its own — beyond what one core does in Python. So:

- **Groups.** Subscriptions with the same document, operation name,
  variables and token scope (`api.graphql.scoped`) form one group. A
  selector's message depends only on (batch, arguments, scope) (see
  `selectors`), so the group executes the document once per message and
  serializes it once; each member only wraps the shared payload in its own
  protocol envelope (its operation id) and sends it.
- **Coalescing.** Batches are not sent as they arrive: the fan-out flushes at
  most once per window, and a socket gets at most one frame per window. The
  window grows with the grouped subscriptions of the process so that frames a
  second stay within a budget: window = subscriptions / `SENDS_PER_SECOND`
  (25,000), at most `WINDOW` (150 ms) — 4 ms for 100 subscribers, 40 ms for
  1,000, 150 ms from 3,750 on (`window_for`). The first change after a quiet
  spell goes out at once. The batches of a window become one message
  whose `changes` keep every version in order (`merge_batches`), so nothing is
  lost or reordered — a CHANGES message always says `fromVersion`/`toVersion`,
  and for `changes` lists each version between them (each one its scope sees,
  for a scoped token).
- **Frames built once.** A message becomes one WebSocket frame per operation id
  (usually one for the whole group), written straight to each socket's transport
  when it can take it now (`api.graphql.frames`, `api.websocket_protocol`): no
  coroutine, no ASGI message, no framing per socket.
- **Sends that do not wait.** Each member sends without waiting for its socket
  (`api.graphql.members`). A member with more than `buffer_size` messages
  queued is cut off with SUBSCRIBER_TOO_SLOW, as the broadcaster cuts off its
  own subscribers.

Per idle subscription the fan-out holds one small `Member` — no task, no
generator, no queue. Which subscriptions are grouped, and under which key, is
the planner's decision (`api.graphql.planner`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, cast

import orjson
from graphql import ExecutionResult, GraphQLError, get_argument_values
from graphql.execution import Executor
from strawberry.execution import optimized_is_awaitable

from api.broadcast import SubscriberOverflow
from api.graphql.enums import UpdateKind
from api.graphql.frames import FrameSink, SharedFrames
from api.graphql.members import Envelope, Member, Payload, Send
from api.graphql.planner import GroupKey, SubscriptionPlan
from api.graphql.scoped import scoped
from api.graphql.selectors import SELECTORS, Selector, UpdateHeader
from api.live import LiveBatch, LiveEvent, LiveReset, LiveState, merge_batches
from ingest.logs import get_logger
from ingest.tasks import cancel_and_wait

log = get_logger("Subscriptions")

WINDOW = 0.15
"""At most this many seconds between two messages of a group (the batches in between
are coalesced): the bound on the latency the window adds."""

SENDS_PER_SECOND = 25_000
"""The frames a second the fan-out aims to stay under (each costs a write to a socket,
~5–10 µs of one core). The window is as short as that allows — see `window_for`."""


def window_for(subscriptions: int, limit: float = WINDOW) -> float:
    """The coalescing window for this many grouped subscriptions in the process.

    A socket gets at most one frame per window, so frames a second across the process
    are at most subscriptions / window: the window is subscriptions / SENDS_PER_SECOND,
    at most `limit` — 0.4 ms for 10 subscribers, 40 ms for 1,000, 150 ms from 3,750 on
    (at 5,000, 33,000 frames a second).
    """
    return min(limit, subscriptions / SENDS_PER_SECOND)


# --- groups ---------------------------------------------------------------------------


class _Group:
    """Members with the same plan, one executor, one selector."""

    def __init__(
        self,
        fanout: Fanout,
        plan: SubscriptionPlan,
        executor: Executor[Any],
        selector: Selector[Any],
        initial: bool,
    ) -> None:
        self.fanout = fanout
        self.plan = plan
        self.executor = executor
        self.selector = selector
        self.initial = initial
        self.members: list[Member] = []
        self._initial_cache: tuple[int, float, Payload] | None = None

    def remove(self, member: Member) -> None:
        with contextlib.suppress(ValueError):
            self.members.remove(member)
        if not self.members:
            self.fanout.drop(self)

    def execute(self, root: Any) -> Payload:
        """The payload (`{"data": …, "errors": …}` as text) of one message."""
        try:
            executor = self.executor.build_per_event_executor(root)
            # graphql-core's copy shares its subfield memo (keyed by the id of each event's
            # field lists) with the group's long-lived executor: it grew with every event,
            # ~1.8 KB per message (found by the reliability soak, item 14).
            executor._relevant_sub_fields = {}
            result = executor.execute_operation(False)
        except Exception as exc:  # as Strawberry reports an exception of the stream
            return self.payload_of(ExecutionResult(None, [_as_error(exc)]))
        if optimized_is_awaitable(result):
            return asyncio.ensure_future(self._finish(cast(Awaitable[Any], result)))
        assert isinstance(result, ExecutionResult)
        return self.payload_of(result)

    async def _finish(self, pending: Awaitable[Any]) -> str:
        try:
            result = await pending
        except Exception as exc:
            return self.payload_of(ExecutionResult(None, [_as_error(exc)]))
        return self.payload_of(result)

    def payload_of(self, result: ExecutionResult) -> str:
        """A result as the payload text Strawberry would send (errors coded)."""
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            self.plan.schema.process_errors(result.errors)
            body["errors"] = [error.formatted for error in result.errors]
        return orjson.dumps(body).decode()

    def initial_payload(self, live: LiveState, version: int) -> Payload:
        """The INITIAL message at `version`, shared by members joining while it holds."""
        now = asyncio.get_running_loop().time()
        cached = self._initial_cache
        if cached is not None and cached[0] == version and now - cached[1] < 1.0:
            return cached[2]
        payload = self.execute(
            self.selector.state(live, UpdateHeader(UpdateKind.INITIAL, 0, version))
        )
        self._initial_cache = (version, now, payload)
        return payload


def _as_error(exc: Exception) -> GraphQLError:
    return exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)


# --- the fan-out ----------------------------------------------------------------------


class Fanout:
    """Every group of one process, fed by the broadcaster, flushed once per window."""

    def __init__(
        self,
        live: LiveState,
        *,
        buffer_size: int,
        window: float = WINDOW,
        on_overflow: Callable[[], None] = lambda: None,
    ) -> None:
        self._live = live
        self._limit = buffer_size
        self._window = window
        self._on_overflow = on_overflow
        self._groups: dict[GroupKey, _Group] = {}
        self._pending: list[LiveEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_flush = 0.0

    @property
    def count(self) -> int:
        """Grouped subscriptions right now."""
        return sum(len(group.members) for group in self._groups.values())

    @property
    def groups(self) -> int:
        """Groups right now."""
        return len(self._groups)

    def start(self) -> None:
        """Start flushing (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="subscription-fanout")

    async def stop(self) -> None:
        """Stop flushing and complete every subscription."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        for group in list(self._groups.values()):
            for member in list(group.members):
                member.finish(None)
        self._groups.clear()
        self._pending.clear()

    def offer(self, event: LiveEvent) -> None:
        """A broadcast event (called by the broadcaster, in order)."""
        if not self._groups:
            return
        self._pending.append(event)
        self._wake.set()

    def drop(self, group: _Group) -> None:
        """Forget an empty group."""
        if self._groups.get(group.plan.key) is group:
            del self._groups[group.plan.key]

    def join(
        self,
        plan: SubscriptionPlan,
        context: Any,
        envelope: Envelope,
        send: Send,
        on_end: Callable[[], None],
        sink: FrameSink | None = None,
    ) -> Member | None:
        """Add a subscription to its group (made on first use); None when the group cannot
        be made (its variables do not coerce): the caller takes Strawberry's path.
        `sink`: its socket, when it takes ready-made frames (`api.graphql.frames`)."""
        group = self._groups.get(plan.key) or self._make_group(plan, context)
        if group is None:
            return None
        member = Member(envelope, send, limit=self._limit, on_end=on_end, sink=sink)
        member.group = group
        group.members.append(member)
        live = self._live
        if live.loaded:
            # Nothing awaits between reading the mirror and joining: no change is missed.
            member.at = member.sent = live.version
            if group.initial:
                self._deliver(group, member, group.initial_payload(live, live.version))
        return member

    def _make_group(self, plan: SubscriptionPlan, context: Any) -> _Group | None:
        schema = plan.schema
        built = schema.execution_context_class.build(
            schema._schema,
            plan.prepared.document,
            context_value=context,
            raw_variable_values=plan.variables,
            operation_name=plan.operation_name,
            is_awaitable=cast(Any, optimized_is_awaitable),
        )
        if isinstance(built, list):
            return None
        subscription = schema._schema.subscription_type
        assert subscription is not None
        field = plan.prepared.field
        try:
            arguments = get_argument_values(
                subscription.fields[field.name.value], field, built.variable_values
            )
        except GraphQLError:
            return None
        selector, initial = SELECTORS[field.name.value](arguments)
        # A token's scope is part of the group key: one group, one scope.
        group = _Group(self, plan, built, scoped(selector, plan.scope, self._live), initial)
        self._groups[plan.key] = group
        return group

    def _deliver(
        self,
        group: _Group,
        member: Member,
        payload: Payload,
        frames: SharedFrames | None = None,
    ) -> None:
        if member.deliver(payload, frames):
            return
        if not member.ended and member.group is group:  # too far behind: cut off
            self._on_overflow()
            log.warning("Subscriber cut off: more than %d updates waiting", self._limit)
            group.remove(member)
            error = _as_error(SubscriberOverflow(self._limit))
            member.finish(group.payload_of(ExecutionResult(None, [error])))

    # --- flushing ---------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            window = window_for(self.count, self._window)
            delay = self._last_flush + window - loop.time()
            # Leading edge: after a quiet spell, only yield once (events of the same
            # read arrive together); otherwise wait out the window.
            await asyncio.sleep(max(delay, 0.0))
            self._last_flush = loop.time()
            events, self._pending = self._pending, []
            try:
                self._flush(events)
            except Exception as exc:  # pragma: no cover - a bug must not stop the fan-out
                log.exception("Subscription fan-out failed; ending its subscriptions")
                self._fail_all(exc)

    def _fail_all(self, exc: Exception) -> None:
        """End every subscription with the error (they may have missed changes:
        clients resubscribe, as after SUBSCRIBER_TOO_SLOW)."""
        for group in list(self._groups.values()):
            payload = group.payload_of(ExecutionResult(None, [_as_error(exc)]))
            for member in list(group.members):
                group.remove(member)
                member.finish(payload)

    def _flush(self, events: Sequence[LiveEvent]) -> None:
        run: list[LiveBatch] = []
        for event in events:
            if isinstance(event, LiveBatch):
                run.append(event)
                continue
            self._changes(run)
            run = []
            self._reset(event)
        self._changes(run)

    def _changes(self, batches: Sequence[LiveBatch]) -> None:
        if not batches:
            return
        for group in list(self._groups.values()):
            for (at, sent), members in _cohorts(group.members):
                if at is None:
                    continue  # waiting for the mirror's first load
                relevant = [batch for batch in batches if batch.to_version > at]
                if not relevant:
                    continue
                if relevant[0].from_version != at:  # pragma: no cover - the broadcaster reloads
                    self._state(group, members, UpdateKind.RESYNC, sent, "missed changes")
                    continue
                for member in members:
                    member.at = relevant[-1].to_version
                # One message for the batches up to the last one this subscription
                # would have had a message for: it ends at that batch's version, as
                # that message would have (the batches after it change nothing here).
                last = _last_touched(group.selector, relevant)
                if last is None:
                    continue
                merged = merge_batches(relevant[: last + 1])
                update = group.selector.delta(
                    merged, UpdateHeader(UpdateKind.CHANGES, sent, merged.to_version)
                )
                if update is None:
                    continue
                payload = group.execute(update)
                frames = _frames_of(payload)
                version = merged.to_version
                for member in members:
                    member.sent = version
                    self._deliver(group, member, payload, frames)

    def _reset(self, event: LiveReset) -> None:
        for group in list(self._groups.values()):
            for (at, sent), members in _cohorts(group.members):
                if at is None:  # the mirror's first load: their first state
                    version = self._live.version
                    for member in members:
                        member.at = member.sent = version
                    if group.initial:
                        payload = group.initial_payload(self._live, version)
                        frames = _frames_of(payload)
                        for member in members:
                            self._deliver(group, member, payload, frames)
                    continue
                self._state(group, members, UpdateKind.RESYNC, sent, event.reason)

    def _state(
        self, group: _Group, members: Iterable[Member], kind: UpdateKind, sent: int, reason: str
    ) -> None:
        version = self._live.version
        payload = group.execute(
            group.selector.state(self._live, UpdateHeader(kind, sent, version, reason))
        )
        frames = _frames_of(payload)
        for member in list(members):
            member.at = member.sent = version
            self._deliver(group, member, payload, frames)


def _frames_of(payload: Payload) -> SharedFrames | None:
    """A message's frames, built once for all its members (not for one still executing)."""
    return SharedFrames(payload) if isinstance(payload, str) else None


def _last_touched(selector: Selector[Any], batches: Sequence[LiveBatch]) -> int | None:
    for index in range(len(batches) - 1, -1, -1):
        if selector.touched(batches[index]):
            return index
    return None


def _cohorts(members: Sequence[Member]) -> list[tuple[tuple[int | None, int], list[Member]]]:
    """Members by (at, sent): the same messages go to the same cohort (usually one)."""
    if not members:
        return []
    first = members[0]
    key = (first.at, first.sent)
    if all(member.at == key[0] and member.sent == key[1] for member in members):
        return [(key, list(members))]
    cohorts: dict[tuple[int | None, int], list[Member]] = {}
    for member in members:
        cohorts.setdefault((member.at, member.sent), []).append(member)
    return list(cohorts.items())
