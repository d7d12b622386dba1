"""The elected ingest's side of the action relay: actions from `api` processes, run here.

Only the elected ingest holds the PBX's AMI session, so a supervisor action
made on an `api` process (or a standby) comes here through Redis: the
requester adds it to the stream ``actions:requests`` and pops the answer from
``actions:reply:<id>`` (`api.action_relay`). While this process leads, it reads
the stream in the consumer group ``leader`` and runs each action with its
Asterisk console, as a local action would run, several at a time.

At most once: an action is taken (``relay_take.lua``) before it runs — only by
the current epoch's leader, only within the time its requester waits to see
it taken, only if nobody took it before (the requester, giving up, takes it as
``expired``) — and acknowledged after its answer is stored. A new leader
first claims what the last one left pending: an action not taken yet runs
(if still in time), one answered already gets its stored answer again, one
taken but not answered (its leader died in the middle) is not run a second
time: its requester answers 504 when its wait ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ingest.actions.console import ActionOutcome, ActionRunner
from ingest.actions.relay_metrics import RelayMetrics
from ingest.actions.relay_wire import WIRE_VERSION, Answer, Call, UnreadableCall, decode_call
from ingest.actions.requests import AddMember, RemoveMember
from ingest.actions.verdicts import AsteriskRefused
from ingest.db.engine import DatabaseUnavailable
from ingest.keys import KeySchema
from ingest.logs import get_logger

log = get_logger("ActionRelay")

GROUP = "leader"
"""The stream's one consumer group: whoever leads reads in it."""
STREAM_MAX = 10_000
"""Entries the requests stream keeps at most (answered ones are deleted at once)."""
KEEP_MS = 300_000
"""How long a taken mark, an answer and an unread reply are kept: far longer than anyone
waits, so a redelivery finds them; an older redelivery is refused by its age."""
RUNNING_MAX = 32
"""Actions run at once (each mostly waits for Asterisk's confirming event)."""
READ_BLOCK_MS = 1000
IDLE_POLL_SECONDS = 0.1
"""How often a standby looks whether it leads now."""
STOP_GRACE_SECONDS = 2.0
"""At a stop, how long the actions still running have to answer."""
SWEEP_SECONDS = 120
"""Actions pending longer than this in any consumer are claimed again, to be closed:
longer than any action waits and runs."""


class Leadership(Protocol):
    """Whether this process leads the PBX's ingest, and its fencing epoch
    (`ingest.election.IngestElection`)."""

    leader: bool

    def fencing_epoch(self) -> int: ...


def consumer_name() -> str:
    """This process in the consumer group: host, pid and a random part (a restarted
    process is a new consumer; what the old one left is claimed at the next election)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class ActionRelayServer:
    """Runs the relayed actions while this process leads (see the module's doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: KeySchema,
        runner: ActionRunner,
        leadership: Leadership,
        *,
        ready: Callable[[float], Awaitable[bool]] | None = None,
        metrics: RelayMetrics | None = None,
        consumer: str | None = None,
        running_max: int = RUNNING_MAX,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._stream = keys.actions("requests")
        self._runner = runner
        self._leadership = leadership
        self._ready = ready
        self._metrics = metrics
        self.consumer = consumer or consumer_name()
        self._running_max = running_max
        self._running: set[asyncio.Task[Any]] = set()
        self._claimed_epoch = 0
        self._swept_at = 0.0
        self._take = redis.register_script(
            resources.files("ingest.lua").joinpath("relay_take.lua").read_text("utf-8")
        )

    @property
    def serving(self) -> bool:
        """Whether this process runs relayed actions now (it leads)."""
        return self._leadership.leader

    @property
    def running(self) -> int:
        """Relayed actions running here now."""
        return len(self._running)

    async def run(self) -> None:
        """Serve while leading, wait while not, until cancelled (then let the actions
        running finish for a moment: their requesters are waiting)."""
        me = asyncio.current_task()
        try:
            # A cancellation that lands in a blocking read can come back as a client
            # error (asyncio.timeout in 3.11 may swallow it): the task still says it.
            while me is None or not me.cancelling():
                if not self._leadership.leader:
                    await asyncio.sleep(IDLE_POLL_SECONDS)
                    continue
                try:
                    await self.serve_round()
                except RedisError as exc:
                    log.warning("Action relay: Redis unavailable (%s)", type(exc).__name__)
                    await asyncio.sleep(0.5)
                except Exception:  # never let the relay die: the next round tries again
                    log.exception("Action relay round failed")
                    await asyncio.sleep(0.5)
            raise asyncio.CancelledError
        finally:
            await self._drain()

    async def serve_round(self) -> None:
        """One round as the leader: claim what an earlier leader left (once per
        epoch), then read new actions (blocking up to a second) and start them."""
        epoch = self._leadership.fencing_epoch()
        if self._claimed_epoch != epoch:
            await self._ensure_group()
            await self._claim_left_over(min_idle_ms=0)
            self._claimed_epoch = epoch
            self._swept_at = time.monotonic()
        elif time.monotonic() - self._swept_at > SWEEP_SECONDS:
            # Delivered to a leader that stepped down just after the claim above: long
            # past any wait by now, they are only to be acknowledged (and answered).
            await self._claim_left_over(min_idle_ms=SWEEP_SECONDS * 1000)
            self._swept_at = time.monotonic()
        if len(self._running) >= self._running_max:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
        try:
            read = await self._redis.xreadgroup(
                GROUP,
                self.consumer,
                {self._stream: ">"},
                count=self._running_max - len(self._running),
                block=READ_BLOCK_MS,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the stream (a restart without persistence): start again.
            self._claimed_epoch = 0
            return
        entries = _entries_of(read)
        if entries:
            self._saw_backlog(await self._redis.xlen(self._stream))
        self._start(entries)

    async def _ensure_group(self) -> None:
        # From the stream's start: what was added before any leader existed is read too
        # (and refused by its age if too old).
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)

    async def _claim_left_over(self, *, min_idle_ms: int) -> None:
        """Everything delivered to a consumer but not acknowledged: an earlier leader's
        (or this process', from an earlier leadership) actions in flight."""
        cursor: Any = "0-0"
        while True:
            answer = await self._redis.xautoclaim(
                self._stream,
                GROUP,
                self.consumer,
                min_idle_time=min_idle_ms,
                start_id=cursor,
                count=100,
            )
            cursor, entries = answer[0], answer[1]
            while len(self._running) >= self._running_max:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            if entries:
                log.info("Action relay: claimed %d action(s) left pending", len(entries))
                self._start(entries)
            if cursor in (b"0-0", "0-0"):
                return

    def _start(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        for entry_id, fields in entries:
            if not fields:  # deleted after it was delivered (answered): done with it
                task = asyncio.create_task(self._acknowledge(_text(entry_id)))
            else:
                task = asyncio.create_task(self._handle(_text(entry_id), fields))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if self._metrics is not None:
            self._metrics.running.set(len(self._running))
        if not task.cancelled() and task.exception() is not None:
            log.error("Relayed action failed: %s", type(task.exception()).__name__)

    async def _handle(self, entry_id: str, fields: dict[Any, Any]) -> None:
        if self._metrics is not None:
            self._metrics.running.set(len(self._running))
        request_id = _field(fields, "id")
        try:
            if _field(fields, "v") != WIRE_VERSION:
                raise ValueError("unknown relay version")
            added_ms = int(entry_id.split("-", 1)[0])
            within_ms = int(_field(fields, "within"))
        except ValueError as exc:
            # Not a request of this release: acknowledge it, and answer if it can be.
            await self._finish(entry_id, request_id, _failed("invalid", str(exc)), store=False)
            return
        if self._ready is not None:
            # Just elected: AMI logs in a moment later. Wait for it rather than refuse,
            # for half the time the requester waits to see the action taken: then take
            # it anyway, so that an AMI still down is the answer, not "nobody took it".
            await self._ready(max(0.0, within_ms / 2000))
        epoch = self._leadership.fencing_epoch()
        verdict = await self._take(
            keys=[
                self._keys.ingest("epoch"),
                self._keys.actions(f"taken:{request_id}"),
                self._keys.actions(f"answer:{request_id}"),
            ],
            args=[epoch, KEEP_MS, added_ms, within_ms],
        )
        kind = _text(verdict[0])
        if kind == "stale":
            return  # left pending: the newer leader claims it
        if kind == "answered":
            self._count("duplicate")
            await self._finish(entry_id, request_id, _text(verdict[1]), store=False)
            return
        if kind == "expired":
            self._count("expired")
            await self._finish(
                entry_id, request_id, _failed("expired", "not taken in time"), store=False
            )
            return
        if kind == "taken":
            # Taken by a leader that died running it, or given up by its requester:
            # never run twice. Its requester answers from what it has (or 504).
            self._count("abandoned" if _text(verdict[1]) != "expired" else "expired")
            await self._acknowledge(entry_id)
            return
        answer = await self._run(_field(fields, "call"))
        self._count(_served_outcome(answer))
        await self._finish(entry_id, request_id, answer.encode())

    async def _run(self, text: Any) -> Answer:
        try:
            call = decode_call(text)
        except UnreadableCall as exc:
            return Answer(failure="invalid", message=str(exc))
        try:
            outcome = await self._call(call)
        except AsteriskRefused as exc:
            return Answer(failure="refused", message=exc.asterisk_message, action=exc.action)
        except (ConnectionError, TimeoutError) as exc:  # AmiUnavailable, SessionClosed
            return Answer(failure="unavailable", message=str(exc) or type(exc).__name__)
        except DatabaseUnavailable as exc:
            return Answer(failure="unavailable", message=f"the database is unavailable: {exc}")
        except Exception as exc:  # the requester must hear something, not wait in vain
            log.exception("Relayed action failed")
            return Answer(failure="failed", message=type(exc).__name__)
        return Answer(outcome)

    async def _call(self, call: Call) -> ActionOutcome:
        request = call.request
        if call.method == "add_member" and isinstance(request, AddMember):
            return await self._runner.add_member(request)
        if call.method == "remove_member" and isinstance(request, RemoveMember):
            return await self._runner.remove_member(request)
        return await self._runner.send(request)

    async def _finish(
        self, entry_id: str, request_id: str, answer: str, *, store: bool = True
    ) -> None:
        """Store the answer (for a redelivery), hand it to the requester, acknowledge."""
        async with self._redis.pipeline(transaction=True) as pipe:
            if request_id:
                if store:
                    pipe.set(self._keys.actions(f"answer:{request_id}"), answer, px=KEEP_MS)
                reply = self._keys.actions(f"reply:{request_id}")
                pipe.rpush(reply, answer)
                pipe.pexpire(reply, KEEP_MS)
            pipe.xack(self._stream, GROUP, entry_id)
            pipe.xdel(self._stream, entry_id)
            pipe.xlen(self._stream)
            self._saw_backlog((await pipe.execute())[-1])

    async def _acknowledge(self, entry_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, entry_id)
            pipe.xdel(self._stream, entry_id)
            pipe.xlen(self._stream)
            self._saw_backlog((await pipe.execute())[-1])

    def _saw_backlog(self, length: int) -> None:
        if self._metrics is not None:
            self._metrics.backlog.set(length)

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.served.labels(outcome).inc()

    async def _drain(self) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=STOP_GRACE_SECONDS)
        for task in set(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(set(self._running))


def _entries_of(read: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """XREADGROUP's entries of our one stream (a list of pairs in RESP2, a map in RESP3)."""
    streams = read.items() if isinstance(read, dict) else (read or [])
    entries: list[tuple[Any, dict[Any, Any]]] = []
    for pair in streams:
        found = pair[1]
        # RESP3 may nest the entries one level deeper.
        entries.extend(found[0] if found and isinstance(found[0], list) else found)
    return entries


def _failed(failure: Any, message: str) -> str:
    return Answer(failure=failure, message=message).encode()


def _served_outcome(answer: Answer) -> str:
    if answer.outcome is not None:
        return "ok" if answer.outcome.confirmed else "pending"
    return "rejected" if answer.failure == "refused" else "failed"


def _field(fields: dict[Any, Any], name: str) -> str:
    """A field of a stream entry, whether the client decodes responses or not."""
    value = fields.get(name.encode(), fields.get(name, ""))
    return _text(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
