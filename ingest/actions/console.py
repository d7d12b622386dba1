"""One supervisor action, end to end: sent to Asterisk, answered, confirmed by its events.

The console never writes an action's intent into the live state. It sends
the action over the ingest's AMI session and, on ``Response: Success``, waits
(up to the confirm timeout) until the events that show the change have been
applied to the store: then a read includes the change. If they do not come
in time the outcome is `confirmed=False` (the API's `pending: true`).

Realtime members (rows of Asterisk's ``queue_members``) are added and
removed by editing the row, then asking ``QueueStatus Queue: <name>`` —
which is when Asterisk reloads them — and reconciling that queue from the
answer (`ingest.actions.realtime`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ingest.actions.realtime import RealtimeMembers
from ingest.actions.requests import AddMember, AmiRequest, RemoveMember
from ingest.actions.verdicts import AsteriskRefused, response_of
from ingest.actions.waiters import EventWaiters
from ingest.store import StateStore

ANSWER_TIMEOUT = 5.0
"""Seconds Asterisk has to answer an action (it answers queue actions at once)."""

Via = Literal["ami", "realtime"]


class AmiActions(Protocol):
    """What the console needs of the AMI ingest (`AmiIngest` is one)."""

    waiters: EventWaiters

    async def send_action(self, action: Mapping[str, str], timeout: float) -> Any:
        """Asterisk's answer to `action` on the live session."""

    async def reconcile_queue(self, queue: str, timeout: float) -> int:
        """Reload one queue from ``QueueStatus Queue: <queue>``; the corrections."""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """Asterisk did it: confirmed by its events in the store, or still pending."""

    confirmed: bool
    via: Via
    asterisk_message: str


class ActionRunner(Protocol):
    """What runs a supervisor action: this process' own AMI session (`AsteriskConsole`),
    or the elected ingest's through the relay (`api.action_relay.RelayedConsole`)."""

    @property
    def relayed(self) -> bool:
        """Whether the action goes through the relay (the audit row says so)."""

    async def send(self, request: AmiRequest) -> ActionOutcome:
        """Send `request` and wait for its events."""

    async def add_member(self, member: AddMember) -> ActionOutcome:
        """QueueAdd, or a realtime row."""

    async def remove_member(self, member: RemoveMember) -> ActionOutcome:
        """QueueRemove, or the realtime row's deletion."""


class AsteriskConsole:
    """Runs supervisor actions on one PBX."""

    relayed = False

    def __init__(
        self,
        ami: AmiActions,
        store: StateStore,
        *,
        realtime: RealtimeMembers | None = None,
        confirm_timeout: float = 2.0,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        self._ami = ami
        self._store = store
        self._realtime = realtime
        self._confirm_timeout = confirm_timeout
        self._answer_timeout = answer_timeout

    async def send(self, request: AmiRequest) -> ActionOutcome:
        """Send `request` over AMI and wait for its events.

        Raises AsteriskRefused on ``Response: Error`` (nothing changed),
        AmiUnavailable / SessionClosed / TimeoutError when Asterisk cannot answer.
        """
        waiters = self._ami.waiters
        # Registered first: Asterisk may send the event before its Response.
        confirmed = waiters.expect(request.expected())
        try:
            answer = await self._ami.send_action(request.ami(), timeout=self._answer_timeout)
            succeeded, message = response_of(answer)
            if not succeeded:
                raise AsteriskRefused(request.ami()["Action"], message or "Error")
            return ActionOutcome(await self._settled(confirmed), "ami", message)
        finally:
            waiters.forget(confirmed)

    async def add_member(self, member: AddMember) -> ActionOutcome:
        """QueueAdd, or for a realtime queue a new ``queue_members`` row."""
        if self._realtime is None or not await self._realtime_queue(member.queue):
            return await self.send(member)
        if not await self._realtime.add(member):
            raise AsteriskRefused("QueueAdd", "Unable to add interface: Already there")
        return await self._reloaded(member.queue, member.interface, present=True)

    async def remove_member(self, member: RemoveMember) -> ActionOutcome:
        """QueueRemove, or for a realtime member the deletion of its row."""
        if self._realtime is None or not await self._realtime.has_member(
            member.queue, member.interface
        ):
            return await self.send(member)
        await self._realtime.remove(member)
        return await self._reloaded(member.queue, member.interface, present=False)

    async def _realtime_queue(self, queue: str) -> bool:
        """Whether Asterisk loads `queue` from the realtime tables: it is a row of
        ``queues`` and has no static member (``member =>`` lines exist only in
        queues.conf, whose queues win over realtime ones of the same name)."""
        if self._realtime is None or not await self._realtime.is_realtime_queue(queue):
            return False
        for operator in await self._store.all("operator"):
            membership = (operator.get("queues") or {}).get(queue)
            if isinstance(membership, dict) and membership.get("membership") == "static":
                return False
        return True

    async def _reloaded(self, queue: str, interface: str, *, present: bool) -> ActionOutcome:
        """After a row changed: Asterisk reloads the queue when asked about it."""
        # The row is the configuration of record: once it is written, a reload that
        # cannot happen now (AMI down, no answer) happens at the queue's next use.
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            await self._ami.reconcile_queue(queue, timeout=self._answer_timeout)
        operator = await self._store.get("operator", interface)
        memberships = (operator or {}).get("queues") or {}
        confirmed = (queue in memberships) == present
        return ActionOutcome(confirmed, "realtime", "")

    async def _settled(self, confirmed: asyncio.Future[None]) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._confirm_timeout):
                await asyncio.shield(confirmed)
            return True
        return False
