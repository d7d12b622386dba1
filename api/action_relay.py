"""The requester's side of the action relay: a supervisor action sent to the elected ingest.

An `api` process (or a standby `all`) has no AMI session: `RelayedConsole` is
its Asterisk console. Each call is added to the PBX's stream
``actions:requests`` with a request id and the time it may wait to be taken,
then the answer is popped from ``actions:reply:<id>`` (BLPOP, in slices shorter
than the client's socket timeout). If nobody took the action in time, the
requester takes it itself as ``expired`` — the same ``SET NX`` the leader
takes it with — so it is never run later, and answers 503. Once taken, it
waits as long as the leader's own wait may last (Asterisk's answer, then
ACTION_CONFIRM_TIMEOUT for the confirming event) and a second more; no answer
by then is 504: the action may have been done.
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import GatewayTimeout, Unavailable
from ingest.actions.console import ANSWER_TIMEOUT, ActionOutcome
from ingest.actions.relay_metrics import RelayMetrics
from ingest.actions.relay_server import KEEP_MS, STREAM_MAX
from ingest.actions.relay_wire import WIRE_VERSION, Answer, Call, decode_answer
from ingest.actions.requests import AddMember, AmiRequest, RemoveMember
from ingest.actions.verdicts import AsteriskRefused
from ingest.keys import KeySchema
from ingest.runners.ami_runner import AmiUnavailable

WAITING_MAX = 64
"""Relayed actions one process waits for at once (each holds a Redis connection)."""
POP_SLICE_SECONDS = 1.0
"""The longest single BLPOP: well under the client's socket timeout."""
ANSWER_MARGIN_SECONDS = 1.0
"""Beyond the leader's own longest wait: the round trips through Redis."""


class RelayedConsole:
    """Runs supervisor actions on the elected ingest (see the module's doc)."""

    relayed = True

    def __init__(
        self,
        redis: Redis,
        keys: KeySchema,
        *,
        take_timeout: float,
        confirm_timeout: float,
        metrics: RelayMetrics | None = None,
        waiting_max: int = WAITING_MAX,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.take_timeout = take_timeout
        self.answer_timeout = ANSWER_TIMEOUT + confirm_timeout + ANSWER_MARGIN_SECONDS
        """How long a taken action may take to be answered."""
        self._metrics = metrics
        self._waiting_max = waiting_max
        self.waiting = 0
        """Actions this process waits for now."""

    async def send(self, request: AmiRequest) -> ActionOutcome:
        """Relay `request`; its outcome as the elected ingest's console returned it."""
        return await self._relay(Call("send", request))

    async def add_member(self, member: AddMember) -> ActionOutcome:
        """QueueAdd, or a realtime row, on the elected ingest."""
        return await self._relay(Call("add_member", member))

    async def remove_member(self, member: RemoveMember) -> ActionOutcome:
        """QueueRemove, or the realtime row's deletion, on the elected ingest."""
        return await self._relay(Call("remove_member", member))

    async def _relay(self, call: Call) -> ActionOutcome:
        if self.waiting >= self._waiting_max:
            self._count("failed")
            raise Unavailable(
                f"{self.waiting} supervisor actions are already waiting for the ingest; "
                "retry shortly"
            )
        self.waiting += 1
        if self._metrics is not None:
            self._metrics.requests.inc()
            self._metrics.waiting.inc()
        try:
            answer = await self._exchange(call)
        except RedisError as exc:
            self._count("failed")
            raise Unavailable(
                "supervisor actions go through Redis to the ingest, and Redis is "
                f"unavailable ({type(exc).__name__})"
            ) from None
        finally:
            self.waiting -= 1
            if self._metrics is not None:
                self._metrics.waiting.dec()
        return self._outcome(answer)

    async def _exchange(self, call: Call) -> Answer:
        request_id = uuid.uuid4().hex
        started = time.monotonic()
        await self._redis.xadd(
            self._keys.actions("requests"),
            {
                "v": WIRE_VERSION,
                "id": request_id,
                "within": str(round(self.take_timeout * 1000)),
                "call": call.encode(),
            },
            maxlen=STREAM_MAX,
            approximate=True,
        )
        try:
            return await self._answer_to(request_id, started)
        except RedisError as exc:
            # Sent: the leader may have taken it before Redis went away.
            self._count("timed_out", stage="answer")
            raise GatewayTimeout(
                f"Redis became unavailable ({type(exc).__name__}) while the action was "
                "relayed to the ingest leader: Asterisk may have done it (the live state "
                "shows it)"
            ) from None

    async def _answer_to(self, request_id: str, started: float) -> Answer:
        reply = self._keys.actions(f"reply:{request_id}")
        text = await self._pop(reply, until=started + self.take_timeout)
        if text is None:
            # Nobody took it: take it ourselves, as the leader would, so nobody ever will.
            given_up = await self._redis.set(
                self._keys.actions(f"taken:{request_id}"), "expired", nx=True, px=KEEP_MS
            )
            if given_up:
                self._count("not_taken", stage="take")
                raise Unavailable(
                    f"no ingest leader took the action within {self.take_timeout:g} s: it "
                    "was not sent to Asterisk and will not be (is an ingest process running "
                    "and leading? see its /healthz)"
                )
            text = await self._pop(reply, until=time.monotonic() + self.answer_timeout)
        if text is None:
            self._count("timed_out", stage="answer")
            raise GatewayTimeout(
                "the ingest leader took the action but did not answer within "
                f"{self.answer_timeout:g} s: Asterisk may have done it (the live state "
                "shows it)"
            )
        return decode_answer(text)

    async def _pop(self, key: str, *, until: float) -> bytes | str | None:
        """The answer pushed to `key`, or None at `until`."""
        while (left := until - time.monotonic()) > 0:
            popped = await self._redis.blpop([key], timeout=max(0.01, min(left, POP_SLICE_SECONDS)))
            if popped is not None:
                value: bytes | str = popped[1]
                return value
        return None

    def _outcome(self, answer: Answer) -> ActionOutcome:
        """The outcome, or the error the local console would have raised."""
        if answer.outcome is not None:
            self._count("ok" if answer.outcome.confirmed else "pending")
            return answer.outcome
        if answer.failure == "refused":
            self._count("rejected")
            raise AsteriskRefused(answer.action or "the action", answer.message)
        if answer.failure == "unavailable":
            self._count("failed")
            raise AmiUnavailable(answer.message)
        if answer.failure == "expired":
            self._count("not_taken")
            raise Unavailable(
                f"no ingest leader took the action within {self.take_timeout:g} s: it was "
                "not sent to Asterisk and will not be"
            )
        self._count("failed")
        raise Unavailable(f"the ingest leader could not run the action: {answer.message}")

    def _count(self, outcome: str, *, stage: str | None = None) -> None:
        if self._metrics is None:
            return
        self._metrics.outcomes.labels(outcome).inc()
        if stage is not None:
            self._metrics.timeouts.labels(stage).inc()
