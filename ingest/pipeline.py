"""The one path from AMI messages to live state: parse → reduce → store.

The live consumer, the file runner and the tests all go through
`EventPipeline`: a batch of raw messages is parsed (typed events, counted
per kind by the parser), reduced (pure patches) and written in ONE
`StateStore.apply` — one EVALSHA, atomic, published as one change batch.
With a records tap (`ingest.records.tap`), every parsed event also goes to
the call-record builder, in order, and the records it completed are appended
to their durable buffer right after the state write, before the batch counts
as done.
The same object reconciles: `reconcile` reads the state, plans with
`ingest.reconcile.plan_reconcile` and applies the plan in one step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ingest.ami.message import AmiMessage
from ingest.ami.parser import EventParser
from ingest.clock import now_ms
from ingest.patches import Change
from ingest.reconcile import AsteriskSnapshot, plan_reconcile
from ingest.records.tap import RecordsTap
from ingest.reducer import reduce
from ingest.store import StateStore

PLAN_STEP = 50
"""Messages parsed and reduced in one event-loop step (about 1.5 ms): a batch of a few
hundred is planned in several, its write still one EVALSHA."""


@dataclass(slots=True)
class PipelineCounters:
    """What went through the pipeline (only batches the store accepted count)."""

    received: int = 0
    """Messages handed in."""
    responses: int = 0
    """Messages without an Event (action responses): not events, skipped."""
    ignored: int = 0
    """Events of kinds we do not track, malformed ones, and events that change nothing."""
    applied: int = 0
    """Events that produced at least one patch."""
    patches: int = 0
    """Patches sent to the store (changes that alter nothing bump no version there)."""
    reconciliations: int = 0
    corrections: int = 0
    """Entities corrected by reconciliations (the drift), in total."""


class EventPipeline:
    """Parse, reduce and store batches of AMI messages; reconcile snapshots."""

    def __init__(
        self,
        store: StateStore,
        parser: EventParser | None = None,
        *,
        clock: Callable[[], int] = now_ms,
        records: RecordsTap | None = None,
        epoch: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.store = store
        self.epoch = epoch
        """The elected leader's epoch every write carries (None: unfenced, no election);
        a write from a deposed leader raises `StaleEpoch` (see `ingest.election`)."""
        self.parser = parser or EventParser()
        self.records = records
        """Where parsed events also go to become call records (None: nowhere)."""
        self.counters = PipelineCounters()
        self._clock = clock

    @property
    def received(self) -> int:
        """Messages handed in so far."""
        return self.counters.received

    @property
    def applied(self) -> int:
        """Events that changed (or re-stated) some entity so far."""
        return self.counters.applied

    def plan(
        self, messages: Sequence[AmiMessage], now: int, *, records: RecordsTap | None = None
    ) -> tuple[list[Change], int]:
        """Pure part of `apply`: the patches of a batch and how many events produced some.

        Parser counters move; pipeline counters do not (the store may still refuse).
        `records`, when given, is fed every parsed event in order.
        """
        changes: list[Change] = []
        applied = 0
        for message in messages:
            if not _has_event(message):
                continue
            event = self.parser.parse(message)
            if event is None:
                continue
            if records is not None:
                records.feed(event, message, now)
            patches = reduce(event, now)
            if patches:
                applied += 1
                changes.extend(patches)
        return changes, applied

    async def apply(
        self,
        messages: Sequence[AmiMessage],
        now: int | None = None,
        *,
        writer: tuple[str, int] | None = None,
    ) -> int:
        """Apply a batch in order, in one store round trip; the number of events applied.

        `now` (ms epoch) stamps the batch, the wall clock when None. Raises the
        store's Redis errors with nothing counted, so the caller may retry the
        same batch. A batch given a `writer` (the AMI consumer numbers its
        batches: see `StateStore.apply`) is applied once however often it is sent.
        """
        stamp = self._clock() if now is None else now
        tap = self.records
        feed = tap if tap is not None and tap.begin_batch(writer) else None
        changes: list[Change] = []
        applied = 0
        for start in range(0, len(messages), PLAN_STEP):
            if start:
                # Others sharing the event loop (the API) run between two steps.
                await asyncio.sleep(0)
            step_changes, step_applied = self.plan(
                messages[start : start + PLAN_STEP], stamp, records=feed
            )
            changes.extend(step_changes)
            applied += step_applied
        if changes:
            await self.store.apply(changes, now=stamp, writer=writer, epoch=self.epoch())
        if tap is not None:
            await tap.flush()
        counters = self.counters
        responses = sum(1 for message in messages if not _has_event(message))
        counters.received += len(messages)
        counters.responses += responses
        counters.applied += applied
        counters.ignored += len(messages) - responses - applied
        counters.patches += len(changes)
        return applied

    async def reconcile(self, snapshot: AsteriskSnapshot, now: int | None = None) -> int:
        """Make the state equal to `snapshot`; the number of entities corrected."""
        stamp = self._clock() if now is None else now
        current = await self.store.snapshot()
        plan = plan_reconcile(snapshot, current, stamp)
        if plan:
            await self.store.apply(plan, now=stamp, epoch=self.epoch())
        self.counters.reconciliations += 1
        self.counters.corrections += len(plan)
        return len(plan)

    async def apply_snapshot(
        self,
        collected: Mapping[str, Sequence[AmiMessage]],
        now: int | None = None,
        *,
        queue: str | None = None,
    ) -> int:
        """Reconcile the raw lists the AMI connection collected; the corrections.

        `collected` has ``queue_status`` (the items of the unfiltered QueueStatus
        and of any per-queue ones), ``channels`` (CoreShowChannels) and
        ``device_states`` (DeviceStateList); a missing list is not reconciled.
        `queue` names the queue a filtered ``QueueStatus Queue: <queue>`` asked
        about: nothing outside it is touched.
        """
        snapshot = AsteriskSnapshot.from_messages(
            collected.get("queue_status", ()),
            channels=collected.get("channels"),
            device_states=collected.get("device_states"),
            has_queue_status="queue_status" in collected,
            queue=queue,
            parser=self.parser,
        )
        return await self.reconcile(snapshot, now)


def _has_event(message: AmiMessage) -> bool:
    """An event (not an action response): it has an ``Event`` header, any letter case."""
    # A panoramisk Message answers `in` by its lowered keys, a wire-spelled dict by
    # "Event": one lookup for nearly every message instead of a scan of its headers.
    if "Event" in message or "event" in message:
        return True
    return any(str(key).lower() == "event" for key in message)
