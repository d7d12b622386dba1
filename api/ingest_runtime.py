"""Wiring of the AMI ingest into the app's lifespan (when AMI_ENABLED)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from ingest.ami.connection import AmiEndpoint
from ingest.config import IngestSettings
from ingest.logs import get_logger
from ingest.pbxes import PbxConfig
from ingest.pipeline import EventPipeline
from ingest.records.tap import RecordsTap
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StateStore
from ingest.sync import QueueDataSync

log = get_logger("AmiService")


def build_ingest(
    settings: IngestSettings,
    store: StateStore,
    sync: QueueDataSync,
    records: RecordsTap | None = None,
    *,
    epoch: Callable[[], int | None] = lambda: None,
    on_stale: Callable[[], None] | None = None,
    pbx: PbxConfig | None = None,
) -> AmiIngest:
    """The AMI ingest over the same store and the same pipeline every writer uses;
    its events also become call records through `records`. Its writes carry
    `epoch()` (the elected leader's fencing token); `on_stale` hears of a refusal.
    `pbx` gives the AMI of one PBX of several (PBXES), else the AMI_* settings."""
    pipeline = EventPipeline(store, records=records, epoch=epoch)

    async def known_queues() -> set[str]:
        # Realtime queues load on demand in Asterisk: name every queue we know of.
        return await store.ids("queue")

    async def resync_after_redis_outage() -> None:
        # Redis may have restarted empty: the configuration comes back from the DB
        # (the reconciliation that follows brings back the live state).
        with contextlib.suppress(Exception):
            await sync.run()

    return AmiIngest(
        AmiEndpoint(
            host=settings.ami_host if pbx is None else pbx.ami_host,
            port=settings.ami_port if pbx is None else pbx.ami_port,
            username=settings.ami_username if pbx is None else pbx.ami_username,
            secret=(settings.ami_secret if pbx is None else pbx.ami_secret).get_secret_value(),
            events=settings.ami_events,
        ),
        EventApplier(pipeline.apply, pipeline.apply_snapshot),
        known_queues=known_queues,
        reconcile_interval=settings.ami_reconcile_interval,
        ping_interval=settings.ami_ping_interval,
        max_queue=settings.ingest_queue_max,
        on_redis_recovered=resync_after_redis_outage,
        on_stale=on_stale,
    )
