"""One ingest per PBX: a Redis lease elects the leader, an epoch fences it.

Every `ingest` (or `all`) process is a candidate. The leader holds the PBX's
lease (``SET NX PX``, renewed every third of its length: `RedisLease`) and,
on winning, takes a new epoch (``INCR``). Each write of the ingest carries that
epoch and the store's apply script refuses one from an older epoch than the
current (`StateStore.apply` raises `StaleEpoch`): the fencing token is checked
where the data lives, so a leader paused past its lease (GC, SIGSTOP, a
network cut) cannot overwrite its successor's work when it resumes.

A leader steps down, and becomes a candidate again, when it cannot renew
before its lease runs out (measured from before the command that took or
renewed it, so never later than Redis' own expiry), when Redis says the lease
is no longer its own, or when a write of its was refused as stale. Stepping
down stops AMI consumption at once (`on_deposed`); winning starts it
(`on_elected`), and the ingest's startup reconciliation makes the state equal
to Asterisk's before it applies events on top.

Redis may lose the lease and the epoch counter: restarted empty, or a Sentinel
failover to a replica that missed the last writes (replication is
asynchronous). Fencing stays sound then: every candidate remembers the highest
epoch it has seen, and a winner takes ``max(INCR, seen + 1)`` (`_TAKE_EPOCH`),
so a new leader never reuses a number a deposed one may still hold (unless it
started after the loss and never saw it: the deposed one then steps down at
its next renewal, the lease no longer its own); and
apply.lua refuses a fenced write whose epoch is not the stored one — older
(deposed), newer (the counter went back) or with no counter at all (lost) —
so the leader steps down, stands again with a fresh epoch and reconciles.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ingest.keys import KeySchema
from ingest.logs import get_logger
from ingest.records.lease import RedisLease

log = get_logger("IngestElection")

__all__ = ["ElectionMetrics", "IngestElection", "LeaderGate"]

# INCR, but never at or below an epoch the winner has seen: after Redis lost the
# counter (or went back to a replica's older one) a number may not be reused.
_TAKE_EPOCH = """
local epoch = redis.call("INCR", KEYS[1])
local floor = tonumber(ARGV[1])
if epoch <= floor then
  redis.call("SET", KEYS[1], floor + 1)
  return {floor + 1, epoch - 1}
end
return {epoch, epoch - 1}
"""
"""Returns the epoch taken and the one stored before (0: none)."""


class ElectionMetrics:
    """The election's Prometheus series (in the process's registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.leader = Gauge(
            "queue_status_ingest_leader",
            "1 while this process is the PBX's elected ingest, 0 while standby.",
            registry=registry,
        )
        self.epoch = Gauge(
            "queue_status_ingest_epoch",
            "The PBX's ingest epoch: this process's while it leads, else the last seen.",
            registry=registry,
        )
        self.leaderships = Counter(
            "queue_status_ingest_leaderships_total",
            "Times this process won the ingest election.",
            registry=registry,
        )
        self.failovers = Counter(
            "queue_status_ingest_failovers_total",
            "Leaderships this process took over from an earlier leader (epoch above 1).",
            registry=registry,
        )
        self.stepdowns = Counter(
            "queue_status_ingest_stepdowns_total",
            "Times this process stopped leading, by reason (expired, lost, stale, stopping).",
            ["reason"],
            registry=registry,
        )
        self.stale_writes = Counter(
            "queue_status_ingest_stale_writes_total",
            "Ingest writes the store refused as stale (a newer leader's epoch).",
            registry=registry,
        )
        self.epoch_losses = Counter(
            "queue_status_ingest_epoch_losses_total",
            "Times this process found the stored epoch below one it had seen (Redis lost it).",
            registry=registry,
        )


class IngestElection:
    """This process's candidacy for the ingest of one PBX (see the module's doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: KeySchema,
        *,
        lease_seconds: float,
        on_elected: Callable[[int], Awaitable[None]],
        on_deposed: Callable[[str], Awaitable[None]],
        metrics: ElectionMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.lease = RedisLease(redis, keys.ingest("lease"), ttl_ms=int(lease_seconds * 1000))
        self.epoch_key = keys.ingest("epoch")
        self.leader = False
        self.epoch = 0
        """This process's epoch while it leads; else the PBX's current one, last seen."""
        self.failovers = 0
        self.stale_writes = 0
        self.epoch_losses = 0
        self.seen_epoch = 0
        """The highest epoch this process has seen: a win never takes one at or below it."""
        self._take_epoch = redis.register_script(_TAKE_EPOCH)
        self._last_stored = 0
        self._lease_seconds = lease_seconds
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._metrics = metrics
        self._clock = clock
        self._led_epoch = 0
        self._valid_until = 0.0
        self._refused = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def renew_interval(self) -> float:
        """Seconds between renewals: a third of the lease."""
        return self._lease_seconds / 3

    def fencing_epoch(self) -> int:
        """The epoch the ingest's writes carry: the one this process last led with (0
        before it ever led). Never None: a batch still in flight as the leader steps
        down must stay fenced, or it would be applied after the successor's snapshot."""
        return self._led_epoch

    def state(self) -> dict[str, Any]:
        """For /healthz: ``leader`` or ``standby``, the epoch and the counters."""
        return {
            "leadership": "leader" if self.leader else "standby",
            "epoch": self.epoch,
            "failovers": self.failovers,
            "staleWritesRefused": self.stale_writes,
            "epochLosses": self.epoch_losses,
            "leaseSeconds": self._lease_seconds,
        }

    async def start(self) -> None:
        """Stand once now (so a lone process leads before it serves), then keep standing."""
        await self.step()
        self._task = asyncio.create_task(self._run(), name="ingest-election")

    async def stop(self) -> None:
        """Stop campaigning; a leader steps down and gives its lease up for a quick handover."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leader:
            await self._step_down("stopping")

    def refused_as_stale(self) -> None:
        """The store refused a write of ours: a newer leader exists. Step down now."""
        self.stale_writes += 1
        if self._metrics is not None:
            self._metrics.stale_writes.inc()
        self._refused = True
        self._wake.set()

    async def step(self) -> None:
        """One round: a leader renews (or steps down), a standby stands."""
        if self.leader:
            await self._hold_on()
        else:
            await self._stand()
        self._publish()

    async def _run(self) -> None:
        while True:
            wait = self.renew_interval
            if self.leader:
                # Wake at the lease's end at the latest: step down then, not a round later.
                wait = max(0.0, min(wait, self._valid_until - self._clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # never let the election die: the next round tries again
                log.exception("Ingest election round failed")

    async def _stand(self) -> None:
        self._refused = False
        started = self._clock()
        try:
            won = await self.lease.acquire()
            if not won:
                self.epoch = self._saw(int(await self.redis.get(self.epoch_key) or 0))
                return
            taken, stored = await self._take_epoch(keys=[self.epoch_key], args=[self.seen_epoch])
            self._saw(int(stored))
            epoch = int(taken)
        except RedisError as exc:
            log.warning("Ingest election: Redis unavailable (%s)", type(exc).__name__)
            with contextlib.suppress(RedisError):
                await self.lease.release()
            return
        self._valid_until = started + self._lease_seconds
        self.leader, self.epoch, self._led_epoch = True, epoch, epoch
        self.seen_epoch = self._last_stored = epoch
        if epoch > 1:
            self.failovers += 1
        if self._metrics is not None:
            self._metrics.leaderships.inc()
            if epoch > 1:
                self._metrics.failovers.inc()
        log.info("Elected the ingest leader (epoch %d)", epoch)
        await self._on_elected(epoch)

    def _saw(self, stored: int) -> int:
        """Note the stored epoch (the highest seen); one below what this process saw
        means Redis lost it (counted once per value read, not once per round)."""
        if stored < self.seen_epoch and stored != self._last_stored:
            self.epoch_losses += 1
            if self._metrics is not None:
                self._metrics.epoch_losses.inc()
            log.warning(
                "The ingest epoch went back from %d to %d: Redis lost it", self.seen_epoch, stored
            )
        self._last_stored = stored
        self.seen_epoch = max(self.seen_epoch, stored)
        return self.seen_epoch

    async def _hold_on(self) -> None:
        if self._refused:
            await self._step_down("stale")
            return
        started = self._clock()
        remaining = self._valid_until - started
        if remaining <= 0:
            await self._step_down("expired")
            return
        try:
            async with asyncio.timeout(remaining):
                renewed = await self.lease.renew()
        except (RedisError, TimeoutError) as exc:
            # Tried again next round; at the lease's end the leader steps down.
            log.warning("Ingest lease not renewed (%s)", type(exc).__name__)
            if self._clock() >= self._valid_until:
                await self._step_down("expired")
            return
        if renewed:
            self._valid_until = started + self._lease_seconds
        else:
            await self._step_down("lost")

    async def _step_down(self, reason: str) -> None:
        self.leader = False
        if self._metrics is not None:
            self._metrics.stepdowns.labels(reason).inc()
        log.warning("Stepped down as the ingest leader (epoch %d): %s", self.epoch, reason)
        self._publish()
        await self._on_deposed(reason)  # AMI consumption stops first, then the lease goes
        self.lease.held = True  # release checks the token itself: only ours is deleted
        with contextlib.suppress(RedisError):
            await self.lease.release()
        if reason != "stopping":
            # Stand again at once, not a round later: after Redis lost the lease and the
            # epoch a lone candidate must lead again quickly; with a real successor the
            # lease is taken and the attempt is one SET NX.
            self._wake.set()

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.leader.set(1 if self.leader else 0)
            self._metrics.epoch.set(self.epoch)


class LeaderGate:
    """The records drainer's guard when an election runs: drain only while leading."""

    def __init__(self, election: IngestElection) -> None:
        self._election = election
        self.ttl_ms = election.lease.ttl_ms

    @property
    def held(self) -> bool:
        """Whether this process leads."""
        return self._election.leader

    async def hold(self) -> bool:
        """Whether this process leads (the election itself renews)."""
        return self._election.leader

    async def release(self) -> None:
        """Nothing: the election gives the lease up."""
