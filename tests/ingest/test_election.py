"""One ingest per PBX: the lease elects, the epoch fences (real Redis, the test's prefix).

The store's fencing first (apply.lua refuses an older epoch, lets unfenced API
writes through), then the election alone, then two whole candidates (election,
AMI ingest, pipeline) against one simulator: the leader dies, the standby leads
after its lease and the state equals the simulator's truth after its
reconciliation; a leader paused past its lease is refused as stale and steps down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.leadership_runtime import IngestHolder
from ingest.ami.connection import AmiEndpoint
from ingest.election import ElectionMetrics, IngestElection, LeaderGate
from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.pipeline import EventPipeline
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StaleEpoch, StateStore
from simulator import AmiSimulator
from tests.support.ami import SECRET, until
from tests.support.busy_lab import lab, traffic
from tests.support.expected import state_view, truth_view, without_fields

LEASE = 0.6
"""Seconds: short, so a dead leader is replaced quickly."""


def _operator(member: str, status: str) -> Patch:
    return Patch("operator", member, {"status": status})


async def _status(store: StateStore, member: str) -> object:
    entity = await store.get("operator", member)
    return None if entity is None else entity.get("status")


# --- fencing where the data lives ------------------------------------------------------


async def test_a_write_from_an_older_epoch_is_refused_and_changes_nothing(
    store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    await redis_client.set(keys.ingest("epoch"), 1)
    await store.apply([_operator("SIP/1", "idle")], epoch=1)
    await redis_client.set(keys.ingest("epoch"), 2)
    version = await store.version()

    with pytest.raises(StaleEpoch):
        await store.apply([_operator("SIP/1", "busy")], epoch=1, writer=("old", 7))

    assert await _status(store, "SIP/1") == "idle"
    assert await store.version() == version
    await store.apply([_operator("SIP/1", "busy")], epoch=2)
    assert await _status(store, "SIP/1") == "busy"


async def test_writes_without_an_epoch_are_not_fenced(
    store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    """The API's own writes (sync, legacy mutations, resync) carry no epoch."""
    await redis_client.set(keys.ingest("epoch"), 5)
    await store.apply([_operator("SIP/2", "paused")])
    assert await _status(store, "SIP/2") == "paused"


async def test_a_fenced_write_is_refused_once_redis_lost_the_epoch(
    store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    """Redis restarted empty (no counter), or failed over to a replica that missed the
    last INCR (the counter below the writer's): the writer cannot know whether a newer
    leader exists, so nothing of its is applied."""
    await redis_client.set(keys.ingest("epoch"), 3)
    await store.apply([_operator("SIP/4", "idle")], epoch=3)
    version = await store.version()

    await redis_client.set(keys.ingest("epoch"), 2)  # the replica missed epoch 3's INCR
    with pytest.raises(StaleEpoch, match="Redis lost it"):
        await store.apply([_operator("SIP/4", "busy")], epoch=3)
    await redis_client.delete(keys.ingest("epoch"))  # restarted empty
    with pytest.raises(StaleEpoch, match="gone"):
        await store.apply([_operator("SIP/4", "busy")], epoch=3)

    assert await _status(store, "SIP/4") == "idle"
    assert await store.version() == version
    await store.apply([_operator("SIP/4", "paused")])  # the API's own writes go on
    assert await _status(store, "SIP/4") == "paused"


# --- the election alone -------------------------------------------------------------


@dataclass
class Calls:
    """What an election told its owner."""

    elected: list[int]
    deposed: list[str]


def _election(redis: Redis, keys: KeySchema, calls: Calls) -> IngestElection:
    async def elected(epoch: int) -> None:
        calls.elected.append(epoch)

    async def deposed(reason: str) -> None:
        calls.deposed.append(reason)

    return IngestElection(
        redis,
        keys,
        lease_seconds=LEASE,
        on_elected=elected,
        on_deposed=deposed,
        metrics=ElectionMetrics(CollectorRegistry()),
    )


async def test_one_candidate_leads_the_other_stands_by_and_a_clean_stop_hands_over(
    redis_client: Redis, keys: KeySchema
) -> None:
    first_calls, second_calls = Calls([], []), Calls([], [])
    first = _election(redis_client, keys, first_calls)
    second = _election(redis_client, keys, second_calls)
    await first.start()
    await second.start()
    try:
        assert (first.leader, second.leader) == (True, False)
        assert first_calls.elected == [1] and second_calls.elected == []
        assert await LeaderGate(first).hold() and not await LeaderGate(second).hold()
        assert second.state()["leadership"] == "standby" and second.epoch == 1

        await first.stop()  # gives the lease up: no wait for it to expire
        await second.step()

        assert first_calls.deposed == ["stopping"]
        assert second.leader and second_calls.elected == [2] and second.failovers == 1
    finally:
        await first.stop()
        await second.stop()


async def test_a_leader_paused_past_its_lease_is_refused_as_stale_and_steps_down(
    redis_client: Redis, keys: KeySchema, store: StateStore
) -> None:
    """SIGSTOP at unit level: the paused leader neither renews nor notices the successor,
    so its next write is what tells it; Redis refuses it where the data lives."""
    paused_calls, other_calls = Calls([], []), Calls([], [])
    paused = _election(redis_client, keys, paused_calls)
    other = _election(redis_client, keys, other_calls)
    await paused.step()  # leads, but runs no renewal loop: it is "stopped"
    await other.start()
    try:
        assert paused.leader and paused.fencing_epoch() == 1
        await until(lambda: other.leader, timeout=5 * LEASE)
        assert other.epoch == 2

        with pytest.raises(StaleEpoch):
            await store.apply([_operator("SIP/3", "busy")], epoch=paused.fencing_epoch())
        paused.refused_as_stale()
        await paused.step()  # resumed ("SIGCONT"): the next round steps down

        assert not paused.leader and paused_calls.deposed == ["stale"]
        with pytest.raises(StaleEpoch):  # a batch still in flight after it stepped down
            await store.apply([_operator("SIP/3", "busy")], epoch=paused.fencing_epoch())
        assert await _status(store, "SIP/3") is None
        assert paused.stale_writes == 1
        assert other.leader, "the successor keeps its lease: the deposed one never touched it"
        assert await redis_client.get(keys.ingest("lease")) == other.lease.token.encode()
    finally:
        await paused.stop()
        await other.stop()


async def test_after_redis_lost_the_counter_a_winner_takes_an_epoch_above_any_seen(
    redis_client: Redis, keys: KeySchema, store: StateStore
) -> None:
    """A Sentinel failover to a replica that missed the leader's INCR and its lease: the
    counter is back at 7 while the old leader still holds 8. The standby, which saw 8,
    wins with 9, not 8 — so the old leader's writes stay refused."""
    old_calls, new_calls = Calls([], []), Calls([], [])
    old = _election(redis_client, keys, old_calls)
    new = _election(redis_client, keys, new_calls)
    await redis_client.set(keys.ingest("epoch"), 7)
    await old.step()
    await new.step()
    try:
        assert (old.leader, old.epoch, new.leader, new.seen_epoch) == (True, 8, False, 8)

        await redis_client.set(keys.ingest("epoch"), 7)
        await redis_client.delete(keys.ingest("lease"))
        await new.step()

        assert new.leader and new.epoch == 9 and new_calls.elected == [9]
        assert new.epoch_losses == 1 and new.state()["epochLosses"] == 1
        assert int(await redis_client.get(keys.ingest("epoch")) or 0) == 9
        with pytest.raises(StaleEpoch):
            await store.apply([_operator("SIP/5", "busy")], epoch=old.fencing_epoch())
        await old.step()  # its renewal finds the lease someone else's
        assert not old.leader and old_calls.deposed == ["lost"]
        assert await _status(store, "SIP/5") is None
    finally:
        await old.stop()
        await new.stop()


async def test_a_lone_candidate_re_elects_above_its_old_epoch_after_redis_restarted_empty(
    redis_client: Redis, keys: KeySchema
) -> None:
    calls = Calls([], [])
    election = _election(redis_client, keys, calls)
    await redis_client.set(keys.ingest("epoch"), 4)
    await election.step()
    try:
        assert election.leader and election.epoch == 5
        await redis_client.delete(keys.ingest("epoch"), keys.ingest("lease"))
        election.refused_as_stale()  # its next write found the epoch gone
        await election.step()
        assert not election.leader and calls.deposed == ["stale"]
        await election.step()
        assert election.leader and calls.elected == [5, 6] and election.epoch_losses == 1
    finally:
        await election.stop()


# --- whole candidates against the simulator -------------------------------------------


@dataclass
class Candidate:
    """One process's election and the ingest it starts and stops."""

    election: IngestElection
    ingest: AmiIngest
    pipeline: EventPipeline


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    """The lab with traffic; model time moves only with `advance`."""
    async with AmiSimulator(secret=SECRET, model=lab(), realtime=False) as sim:
        yield sim


@pytest.fixture
async def candidates(
    simulator: AmiSimulator, key_prefix: str
) -> AsyncIterator[Callable[[], Awaitable[Candidate]]]:
    """Builds candidates, each with its own Redis connection, stopped at the end."""
    built: list[tuple[Candidate, Redis]] = []

    async def build() -> Candidate:
        redis = Redis(host="127.0.0.1", port=6379)
        store = StateStore(redis, KeySchema(key_prefix))
        holder = IngestHolder()
        election = IngestElection(
            redis,
            store.keys,
            lease_seconds=LEASE,
            on_elected=holder.elected,
            on_deposed=holder.deposed,
        )
        pipeline = EventPipeline(store, epoch=election.fencing_epoch)

        async def known_queues() -> set[str]:
            return await store.ids("queue")

        holder.ingest = AmiIngest(
            AmiEndpoint("127.0.0.1", simulator.port, "admin", SECRET),
            EventApplier(pipeline.apply, pipeline.apply_snapshot),
            known_queues=known_queues,
            reconcile_interval=3600.0,
            on_stale=election.refused_as_stale,
        )
        candidate = Candidate(election, holder.ingest, pipeline)
        built.append((candidate, redis))
        await election.start()
        return candidate

    yield build
    for candidate, redis in built:
        await candidate.election.stop()
        await candidate.ingest.stop()
        await redis.aclose()


async def _assert_equals_truth(store: StateStore, sim: AmiSimulator) -> None:
    """Members and queues as the simulator holds them (LastCall aside: our clock)."""
    ours = without_fields(state_view(await store.snapshot()), "last_call")
    assert ours == without_fields(truth_view(sim.truth()), "last_call")


async def test_the_standby_leads_when_the_leader_dies_and_reconciles_to_the_truth(
    simulator: AmiSimulator,
    candidates: Callable[[], Awaitable[Candidate]],
    store: StateStore,
) -> None:
    first = await candidates()
    second = await candidates()
    assert first.election.leader and not second.election.leader
    await until(lambda: first.ingest.status.reconciliations >= 1)
    assert second.ingest.status.events_received == 0, "a standby consumes no AMI"
    await traffic(simulator, 60)
    await until(lambda: first.ingest.status.events_received > 0)

    # Dead at once, as after kill -9: no renewal, no release, its session gone.
    assert first.election._task is not None
    first.election._task.cancel()
    await first.ingest.halt("killed")
    await traffic(simulator, 60)  # calls go on while nobody listens

    await until(lambda: second.election.leader, timeout=5.0)
    assert second.election.epoch == 2
    await until(lambda: second.ingest.status.reconciliations >= 1)
    await traffic(simulator, 30)
    await until(
        lambda: (
            second.ingest.status.events_received > 0
            and second.ingest.status.queue_depth == 0
            and second.pipeline.counters.received == second.ingest.status.events_received
        )
    )
    await asyncio.sleep(0.2)  # the last batch's reply
    await _assert_equals_truth(store, simulator)


async def test_after_redis_lost_everything_the_leader_re_elects_and_reconciles_to_the_truth(
    simulator: AmiSimulator,
    candidates: Callable[[], Awaitable[Candidate]],
    store: StateStore,
    redis_client: Redis,
    key_prefix: str,
) -> None:
    """Every key of the PBX gone at once (its Redis restarted empty): the lease, the epoch
    and the state. The leader's next write is refused (no epoch) or its renewal fails;
    it, or the standby, leads again with an epoch above the old one and reconciles."""
    first = await candidates()
    second = await candidates()
    await until(lambda: first.ingest.status.reconciliations >= 1)
    await traffic(simulator, 30)
    await until(
        lambda: first.ingest.status.queue_depth == 0 and first.ingest.status.events_received > 0
    )

    reconciled = {id(c): c.ingest.status.reconciliations for c in (first, second)}
    lost = [key async for key in redis_client.scan_iter(match=f"{key_prefix}*")]
    await redis_client.delete(*lost)
    await traffic(simulator, 30)

    def leads_again() -> bool:
        return any(c.election.leader and c.election.epoch == 2 for c in (first, second))

    await until(leads_again, timeout=5.0)
    (leader,) = [c for c in (first, second) if c.election.leader]
    assert not (first.election.leader and second.election.leader)
    await until(
        lambda: (
            leader.ingest.status.reconciliations > reconciled[id(leader)]
            and leader.ingest.status.queue_depth == 0
        )
    )
    await traffic(simulator, 30)
    await until(lambda: leader.ingest.status.queue_depth == 0)
    await asyncio.sleep(0.2)  # the last batch's reply
    await _assert_equals_truth(store, simulator)
