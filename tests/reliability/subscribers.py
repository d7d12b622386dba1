"""Subscribers that keep a history and check it against the store, Jepsen-style.

A `ChangesFollower` subscribes to `changes` (every change, with its version)
over either protocol and keeps a client-side copy of the state: INITIAL and
RESYNC replace it with the snapshot, CHANGES apply upserts and deletes. Every
message is checked as it arrives: it must continue exactly where the last one
ended (`fromVersion` = previous `toVersion`), and the versions of a CHANGES
batch must be contiguous. At the end its copy must equal the store's state.
A silent gap — versions missed without a RESYNC — fails one of these checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from ingest.store import StateStore
from tests.reliability.wsclient import GqlSocket, errors_of

CHANGES = """
subscription {
  changes {
    kind fromVersion toVersion reason
    changes { version kind op id }
    snapshot {
      version
      operators { memberId version }
      queues { name version }
      channels { name version }
    }
  }
}
"""

Key = tuple[str, str]


def snapshot_state(snapshot: dict[str, Any]) -> dict[Key, int]:
    """(kind, id) → version of a snapshot as the subscription sends it."""
    state: dict[Key, int] = {}
    for op in snapshot["operators"]:
        state[("OPERATOR", op["memberId"])] = int(op["version"])
    for queue in snapshot["queues"]:
        state[("QUEUE", queue["name"])] = int(queue["version"] or 0)
    for channel in snapshot["channels"]:
        state[("CHANNEL", channel["name"])] = int(channel["version"])
    return state


async def store_state(store: StateStore) -> tuple[int, dict[Key, int]]:
    """The store's version and (kind, id) → version."""
    snap = await store.snapshot()
    state: dict[Key, int] = {}
    for op in snap.operators:
        state[("OPERATOR", str(op["memberId"]))] = int(op.get("version") or 0)
    for queue in snap.queues:
        state[("QUEUE", str(queue["name"]))] = int(queue.get("version") or 0)
    for channel in snap.channels:
        state[("CHANNEL", str(channel["name"]))] = int(channel.get("version") or 0)
    return snap.version, state


@dataclass
class ChangesFollower:
    """One `changes` subscriber with its history and its copy of the state."""

    socket: GqlSocket
    name: str
    state: dict[Key, int] = field(default_factory=dict)
    at: int | None = None
    messages: int = 0
    resyncs: int = 0
    reasons: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    written_at: dict[int, float] | None = None
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Subscribe and follow in the background."""
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        await self.socket.subscribe("1", CHANGES)
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await self.socket.recv(timeout=3600)
                if message.get("type") != self.socket.data_type:
                    self.violations.append(f"{self.name}: unexpected {message}")
                    return
                if errors_of(message):
                    self.violations.append(f"{self.name}: errors {errors_of(message)}")
                    return
                self.take(message["payload"]["data"]["changes"])

    def take(self, batch: dict[str, Any]) -> None:
        """Check one message against the history and apply it."""
        received = time.perf_counter()
        self.messages += 1
        kind, start, end = batch["kind"], int(batch["fromVersion"]), int(batch["toVersion"])
        if kind == "INITIAL":
            if self.at is not None:
                self.violations.append(f"{self.name}: a second INITIAL at {self.at}")
            self.state = snapshot_state(batch["snapshot"])
            self.at = end
            return
        if self.at is None:
            self.violations.append(f"{self.name}: {kind} before INITIAL")
            return
        if start != self.at:
            self.violations.append(
                f"{self.name}: {kind} from {start}, but the last ended at {self.at}"
            )
        if kind == "RESYNC":
            self.resyncs += 1
            self.reasons.append(str(batch["reason"]))
            self.state = snapshot_state(batch["snapshot"])
        else:
            versions = [int(c["version"]) for c in batch["changes"]]
            if versions != list(range(start + 1, end + 1)):
                self.violations.append(f"{self.name}: versions {versions} for {start}..{end}")
            for change in batch["changes"]:
                key = (change["kind"], change["id"])
                if change["op"] == "DELETE":
                    self.state.pop(key, None)
                else:
                    self.state[key] = int(change["version"])
                if self.written_at is not None:
                    written = self.written_at.get(int(change["version"]))
                    if written is not None:
                        self.latencies.append(received - written)
        self.at = end

    async def reaches(self, version: int, timeout: float) -> None:
        """Wait until this subscriber's state is at `version`."""
        async with asyncio.timeout(timeout):
            while self.at != version:
                if self.task is not None and self.task.done():
                    raise AssertionError(f"{self.name} stopped: {self.violations}")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Close the socket and the reader."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        with contextlib.suppress(Exception):
            await self.socket.close()
