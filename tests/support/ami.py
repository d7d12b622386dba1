"""The real AMI ingest (connection, ordered consumer, pipeline, store) for tests.

Built as `api.ingest_runtime.build_ingest` builds it for the app, minus the
settings and the database: the same `EventPipeline` over the given store,
the queues it knows named to the snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from ingest.ami.connection import AmiEndpoint
from ingest.ami.message import AmiMessage
from ingest.ami.relevance import DEFAULT_EVENT_CLASSES
from ingest.pipeline import EventPipeline
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.runners.ami_status import IngestStatus
from ingest.store import StateStore

SECRET = "sim-secret"
_INGEST_MASK = frozenset(DEFAULT_EVENT_CLASSES.split(","))


def sent_to_ingest(event: AmiMessage) -> bool:
    """Whether Asterisk (and the simulator) sends `event` to the ingest's session: one of
    its ``Privilege`` classes is in the Login ``Events:`` mask (`AMI_EVENTS` default)."""
    privilege = event.get("Privilege")
    classes = {c for c in str(privilege or "").split(",") if c and c != "all"}
    return not classes or bool(classes & _INGEST_MASK)


async def until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Poll `predicate` until it holds; TimeoutError naming `what` after `timeout` s."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise TimeoutError(f"still waiting after {timeout:g} s for {what or predicate}") from None


@dataclass
class LiveIngest:
    """A running ingest and the pipeline behind it."""

    ingest: AmiIngest
    pipeline: EventPipeline

    @property
    def status(self) -> IngestStatus:
        """What the ingest reports (as /healthz shows it)."""
        return self.ingest.status

    def caught_up(self) -> bool:
        """Every event received so far went through the pipeline into the store."""
        status = self.status
        return self.pipeline.counters.received == status.events_received - status.events_dropped

    async def settled(
        self,
        *,
        events: int | None = None,
        reconciliations: int = 1,
        timeout: float = 20.0,
    ) -> None:
        """Wait until `events` events arrived (if given), `reconciliations` were applied
        and the pipeline caught up with everything received."""
        status = self.status

        def done() -> bool:
            return (
                (events is None or status.events_read >= events)
                and status.reconciliations >= reconciliations
                and self.caught_up()
            )

        what = f"{events} events and {reconciliations} reconciliation(s)"
        await until(done, timeout, what)


@asynccontextmanager
async def running_ingest(
    store: StateStore,
    port: int,
    *,
    secret: str = SECRET,
    username: str = "admin",
    pipeline: EventPipeline | None = None,
    **options: Any,
) -> AsyncIterator[LiveIngest]:
    """The ingest connected to 127.0.0.1:`port`, writing to `store`, until the block ends.

    `options` go to `AmiIngest` (the reconcile interval defaults to an hour,
    so only the startup snapshot and the ones a test asks for are taken; the
    known queues, to those in `store`). `pipeline` (over `store`) replaces the
    plain one, e.g. to give it a records tap.
    """
    pipeline = pipeline or EventPipeline(store)

    async def known_queues() -> set[str]:
        return await store.ids("queue")

    options.setdefault("reconcile_interval", 3600.0)
    options.setdefault("known_queues", known_queues)
    ingest = AmiIngest(
        AmiEndpoint("127.0.0.1", port, username, secret),
        EventApplier(pipeline.apply, pipeline.apply_snapshot),
        **options,
    )
    ingest.start()
    try:
        yield LiveIngest(ingest, pipeline)
    finally:
        await ingest.stop()
