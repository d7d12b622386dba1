"""Snapshots of Asterisk's lists for the AMI runner, each at its exact place in the stream.

A snapshot asks QueueStatus, and CoreShowChannels and DeviceStateList when
the manager user may ask them (`ingest.ami.sources`), all at once. The
protocol reports the first answer to the QueueStatus action: that is the
snapshot's place in the event stream, handed to the runner as a
`SnapshotPoint` (its marker), which resolves once every list is collected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.ami.action_ids import new_action_id
from ingest.ami.connection import AmiSession, SessionClosed
from ingest.ami.message import AmiMessage
from ingest.ami.sources import (
    QUEUE_STATUS,
    TIMED_OUT,
    ListAction,
    Refusal,
    SnapshotSources,
)
from ingest.logs import get_logger

log = get_logger("AmiService")


@dataclass
class SnapshotPoint:
    """Where in the stream a snapshot was taken; resolved with its collected lists.

    `queue` is set for one queue's snapshot (``QueueStatus Queue: <queue>``);
    `applied` resolves with the corrections once the consumer applied it.
    """

    action_id: str
    collected: asyncio.Future[dict[str, list[AmiMessage]]]
    queue: str | None = None
    applied: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def fail(self, exc: BaseException) -> None:
        """The snapshot will not be applied: whoever waits for it learns why."""
        if not self.applied.done():
            self.applied.set_exception(exc)
            self.applied.exception()  # retrieved: nobody may be waiting


class SnapshotCollector:
    """Takes snapshots on a session and reports each one's marker as it arrives."""

    def __init__(
        self,
        sources: SnapshotSources,
        *,
        known_queues: Callable[[], Awaitable[set[str]]],
        list_timeout: float,
        at_marker: Callable[[SnapshotPoint], None],
    ) -> None:
        self._sources = sources
        self._known_queues = known_queues
        self._list_timeout = list_timeout
        self._at_marker = at_marker
        self._watched: dict[str, SnapshotPoint] = {}

    def on_action_message(self, message: Any) -> None:
        """The session's hook for answers to our actions (plain: runs inline, in order)."""
        point = self._watched.pop(str(message.action_id), None)
        if point is not None:
            self._at_marker(point)

    def session_ended(self) -> None:
        """Fail the snapshots still waiting for their marker."""
        for point in self._watched.values():
            if not point.collected.done():
                point.collected.set_exception(SessionClosed("session ended"))
            point.fail(SessionClosed("session ended"))
        self._watched.clear()

    async def collect(self, session: AmiSession, retry_in: float) -> bool:
        """Take one snapshot for the consumer to apply at its marker; False if it failed."""
        loop = asyncio.get_running_loop()
        action_id = new_action_id("snapshot")
        point = SnapshotPoint(action_id, loop.create_future())
        self._watched[action_id] = point
        sources = self._sources
        asked = sources.due()
        try:
            # Sent together, so Asterisk answers them back to back: the channel and
            # device lists describe the moment of the marker, not a later one (events
            # that arrive meanwhile would show as corrections, although none is due).
            answers = await asyncio.gather(
                *(
                    _ask(
                        session,
                        action,
                        action_id if action is QUEUE_STATUS else None,
                        self._list_timeout,
                    )
                    for action in asked
                ),
                return_exceptions=True,
            )
            collected: dict[str, list[AmiMessage]] = {}
            for action, answer in zip(asked, answers, strict=True):
                if isinstance(answer, BaseException):
                    raise answer
                if isinstance(answer, Refusal):
                    sources.refused(action, answer)
                    if action.required:
                        raise RuntimeError(f"{action.action} failed: {answer.outcome}")
                    continue
                sources.answered(action)
                collected[action.collected] = answer
            items = collected[QUEUE_STATUS.collected]
            reported = {str(m.get("Queue")) for m in items if m.get("Event") == "QueueParams"}
            # Realtime queues are loaded on demand: ask for the ones we know by name.
            for name in sorted(await self._known_queues() - reported):
                if "\r" in name or "\n" in name:
                    # A line break would end the action: the protocol refuses it, and
                    # one such name (from the database) must not stop every snapshot.
                    log.warning("Queue %r cannot be named in an AMI action; skipped", name)
                    continue
                answer = await session.send(
                    {"Action": "QueueStatus", "Queue": name}, timeout=self._list_timeout
                )
                if _is_list(answer):
                    items.extend(_list_items(answer))
        except Exception as exc:  # an error answer, a timeout, or the session ended
            self._watched.pop(action_id, None)
            if not point.collected.done():
                point.collected.set_exception(exc)
            log.warning(
                "Snapshot not taken: %s; trying again in %.0f s",
                type(exc).__name__ if not str(exc) else exc,
                retry_in,
            )
            return False
        point.collected.set_result(collected)
        return True

    async def collect_queue(self, session: AmiSession, queue: str) -> SnapshotPoint:
        """Take one queue's snapshot (``QueueStatus Queue: <queue>``) for the consumer
        to apply at its marker; the point, whose `applied` resolves once it is.

        Raises what the action raised (refused, timed out, session ended).
        """
        loop = asyncio.get_running_loop()
        action_id = new_action_id("snapshot")
        point = SnapshotPoint(action_id, loop.create_future(), queue=queue)
        self._watched[action_id] = point
        action = {"Action": "QueueStatus", "Queue": queue, "ActionID": action_id}
        try:
            answer = await session.send(action, timeout=self._list_timeout)
            if not _is_list(answer):
                raise RuntimeError(f"QueueStatus refused: {Refusal.of_answer(answer).outcome}")
        except Exception as exc:
            self._watched.pop(action_id, None)
            if not point.collected.done():
                point.collected.set_exception(exc)
                point.collected.exception()
            point.fail(exc)
            raise
        point.collected.set_result({QUEUE_STATUS.collected: _list_items(answer)})
        return point


async def _ask(
    session: AmiSession, action: ListAction, action_id: str | None, timeout: float
) -> list[AmiMessage] | Refusal:
    """The items of one list action, or how Asterisk refused it (no answer: timed out).

    Raises what ends the session (SessionClosed and the like).
    """
    request = {"Action": action.action}
    if action_id is not None:
        request["ActionID"] = action_id
    try:
        answer = await session.send(request, timeout=timeout)
    except TimeoutError:
        return Refusal(TIMED_OUT)
    if not _is_list(answer):
        return Refusal.of_answer(answer)
    return _list_items(answer)


def _is_list(answer: Any) -> bool:
    return isinstance(answer, list)


def _list_items(answer: list[Any]) -> list[AmiMessage]:
    """The items of an EventList answer (without its start and Complete messages)."""
    return [m for m in answer if m.get("Event") and not str(m.get("Event")).endswith("Complete")]
