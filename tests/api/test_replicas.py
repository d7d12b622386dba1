"""API replicas on one Redis prefix: a client moving replica, and Redis losing writes.

Two `serve --role api` apps (real uvicorn in the test's loop) share the test's
Redis prefix; the test writes changes as the ingest would. No sticky sessions:

- A wallboard following `changes` on replica A loses it and resumes on
  replica B as the wallboard does (api/static/wallboard/app.js): subscribe
  with `initial: false`, read the snapshot and its version, apply what the
  subscription brought that is newer. Every batch it applies continues where
  its copy ended (`fromVersion` not beyond its version), and its copy ends
  equal to the store's.
- Without a snapshot, when the new subscription starts no later than the
  version the client holds (it subscribed on B before leaving A): versions
  are global, so it goes on from B's batches alone.
- The store's version going back below what a replica saw (a failover to a
  replica that missed writes): the replica reloads (RESYNC to its
  subscribers), rebuilds, and counts it in /healthz and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.patches import Patch
from ingest.store import StateStore
from tests.reliability.subscribers import ChangesFollower, Key, snapshot_state, store_state
from tests.reliability.wsclient import TRANSPORT_WS, GqlSocket, errors_of
from tests.support.server import run_server
from tests.support.settings import test_settings as make_settings

RESUME = """
subscription {
  changes(initial: false) {
    kind fromVersion toVersion reason
    changes { version kind op id }
    snapshot { version operators { memberId version } queues { name version }
               channels { name version } }
  }
}
"""
SNAPSHOT = """
query { snapshot { version operators { memberId version } queues { name version }
                   channels { name version } } }
"""
MEMBERS = ("PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004")


@dataclass
class Replica:
    """A running `api` app: its HTTP client and WebSocket URL."""

    http: httpx.AsyncClient
    ws_url: str


Start = Callable[[], AbstractAsyncContextManager[Replica]]


@pytest.fixture
def replica(key_prefix: str, runbook_db: str) -> Start:
    """An `api` replica on the test's prefix and database."""

    @asynccontextmanager
    async def running() -> AsyncIterator[Replica]:
        settings = make_settings(prefix=key_prefix, database_url=runbook_db)
        app = create_app(settings, role="api")
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            yield Replica(http, url.replace("http://", "ws://") + "/graphql")

    return running


@asynccontextmanager
async def writing(store: StateStore, interval: float = 0.005) -> AsyncIterator[None]:
    """Status changes of the runbook's operators, one at a time, until the block ends."""
    statuses = itertools.cycle(("idle", "ringing", "in_call", "unavailable", "paused"))
    done = asyncio.Event()

    async def write() -> None:
        # Stopped between writes, never cancelled inside one (redis-py may then hang).
        for n in itertools.count():
            if done.is_set():
                return
            await store.apply([Patch("operator", MEMBERS[n % 4], {"status": next(statuses)})])
            await asyncio.sleep(interval)

    task = asyncio.create_task(write())
    try:
        yield
    finally:
        done.set()
        await task


@dataclass
class BoardCopy:
    """The wallboard's copy (state.js `applyBatch`): a snapshot replaces it, a batch
    applies when its `fromVersion` is not beyond the copy's version, changes already
    in the copy are skipped. A batch beyond it is a gap: recorded (this test fails)."""

    state: dict[Key, int] = field(default_factory=dict)
    version: int = -1
    applied: int = 0
    gaps: list[str] = field(default_factory=list)

    def replace(self, snapshot: dict[str, Any]) -> None:
        self.state = snapshot_state(snapshot)
        self.version = int(snapshot["version"])

    def apply(self, batch: dict[str, Any]) -> None:
        if batch["kind"] != "CHANGES":
            self.replace(batch["snapshot"])
            return
        start, end = int(batch["fromVersion"]), int(batch["toVersion"])
        if start > self.version:
            self.gaps.append(f"batch {start}..{end} with the copy at {self.version}")
            return
        versions = [int(change["version"]) for change in batch["changes"]]
        assert versions == list(range(start + 1, end + 1)), batch
        for change in batch["changes"]:
            if int(change["version"]) <= self.version:
                continue
            key = (change["kind"], change["id"])
            if change["op"] == "DELETE":
                self.state.pop(key, None)
            else:
                self.state[key] = int(change["version"])
            self.applied += 1
        self.version = max(self.version, end)


async def follow(socket: GqlSocket, board: BoardCopy, buffered: list[dict[str, Any]]) -> None:
    """Apply the subscription's batches to `board`; buffer them until it holds a state."""
    while True:
        message = await socket.recv(timeout=30)
        assert message.get("type") == "next" and not errors_of(message), message
        batch = message["payload"]["data"]["changes"]
        if board.version < 0:
            buffered.append(batch)
        else:
            board.apply(batch)


async def snapshot_of(replica: Replica) -> dict[str, Any]:
    """The GraphQL snapshot (what the wallboard reads) of `replica`."""
    body = (await replica.http.post("/graphql", json={"query": SNAPSHOT})).json()
    assert "errors" not in body, body
    snapshot: dict[str, Any] = body["data"]["snapshot"]
    return snapshot


async def until_equal(copy: Callable[[], tuple[int, dict[Key, int]]], store: StateStore) -> None:
    """The copy reaches the store's version and state (the writer has stopped)."""
    try:
        async with asyncio.timeout(5):
            while copy() != await store_state(store):
                await asyncio.sleep(0.02)
    except TimeoutError:
        assert copy() == await store_state(store)


async def settle(
    board: BoardCopy, store: StateStore, reader: asyncio.Task[None], socket: GqlSocket
) -> None:
    """Once the writer stopped: the copy reaches the store with no gap; the socket closed."""
    try:
        await until_equal(lambda: (board.version, board.state), store)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await socket.close()
    assert board.gaps == []


async def test_a_wallboard_leaving_one_replica_resumes_on_another_by_snapshot_and_version(
    replica: Start, store: StateStore
) -> None:
    async with replica() as a, replica() as b:
        async with writing(store):
            on_a = ChangesFollower(await GqlSocket.open(a.ws_url, TRANSPORT_WS), "on A")
            on_a.start()
            await until_true(lambda: on_a.messages >= 10)
            await on_a.stop()  # replica A is gone for this client (a restart, a move)
            left_at = on_a.at
            assert left_at is not None and on_a.violations == []

            socket = await GqlSocket.open(b.ws_url, TRANSPORT_WS)
            board, buffered = BoardCopy(), list[dict[str, Any]]()
            await socket.subscribe("1", RESUME)
            reader = asyncio.create_task(follow(socket, board, buffered))
            await until_true(lambda: bool(buffered))  # subscribed: now read the state
            snapshot = await snapshot_of(b)
            # One step, no await: what arrives from now on applies directly.
            board.replace(snapshot)
            for batch in buffered:
                board.apply(batch)
            assert board.version > left_at, "the writes went on while the client moved"
            await until_true(lambda: board.applied >= 20)
        await settle(board, store, reader, socket)
    assert int(buffered[0]["fromVersion"]) <= int(snapshot["version"]), "B's first batch"


async def until_true(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Poll until `condition()` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_client_subscribed_on_both_replicas_moves_without_a_snapshot(
    replica: Start, store: StateStore
) -> None:
    """Make before break: subscribed on B before leaving A, the client holds a version
    at or past B's first `fromVersion` once A has caught up to it: B's batches alone
    continue its copy (versions are global, no replica numbers its own)."""
    async with replica() as a, replica() as b:
        async with writing(store):
            on_a = ChangesFollower(await GqlSocket.open(a.ws_url, TRANSPORT_WS), "on A")
            on_a.start()
            await until_true(lambda: on_a.messages >= 5)
            socket = await GqlSocket.open(b.ws_url, TRANSPORT_WS)
            board, buffered = BoardCopy(), list[dict[str, Any]]()
            await socket.subscribe("1", RESUME)
            reader = asyncio.create_task(follow(socket, board, buffered))
            await until_true(lambda: bool(buffered))
            joined_b_at = int(buffered[0]["fromVersion"])
            await until_true(lambda: (on_a.at or 0) >= joined_b_at)
            await on_a.stop()
            assert on_a.violations == [] and on_a.at is not None
            # One step, no await: A's copy, then B's batches past it.
            board.state, board.version = dict(on_a.state), on_a.at
            for batch in buffered:
                board.apply(batch)
            await until_true(lambda: board.applied >= 20)
        await settle(board, store, reader, socket)


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_a_store_version_going_back_resyncs_subscribers_and_is_counted(
    replica: Start, store: StateStore
) -> None:
    """A Sentinel failover to a replica that missed the last writes, at unit scale: the
    version key goes back while nothing is written. The replica's broadcaster reloads
    (its subscribers get a RESYNC, never a silent gap), its watch has the state rebuilt,
    and /healthz and /metrics count the loss."""
    async with replica() as api:
        follower = ChangesFollower(await GqlSocket.open(api.ws_url, TRANSPORT_WS), "sub")
        follower.start()
        try:
            async with writing(store):
                await until_true(lambda: follower.messages >= 5)
            version = await store.version()
            await follower.reaches(version, timeout=5)
            await asyncio.sleep(1.2)  # the watch has read this version
            await store.redis.set(store.keys.version, version - 3)

            await until_true(lambda: follower.resyncs >= 1)
            assert "went back" in follower.reasons[0]
            health: dict[str, Any] = {}
            async with asyncio.timeout(10):
                while not health.get("stateLosses"):
                    health = (await api.http.get("/healthz")).json()["data"]["redis"]
                    await asyncio.sleep(0.1)
            assert health["ok"] is True and health["failovers"] == 0
            assert health["stateLosses"] == 1
            assert "Redis lost the live state" in health["lastStateLoss"]
            metrics = (await api.http.get("/metrics")).text
            assert _metric(metrics, "queue_status_redis_state_losses_total") == 1
            assert _metric(metrics, "queue_status_redis_failovers_total") == 0

            async with writing(store):
                await asyncio.sleep(0.3)
            await until_equal(lambda: (follower.at or 0, follower.state), store)
        finally:
            await follower.stop()
    assert follower.violations == []
