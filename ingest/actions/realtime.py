"""Members that live in Asterisk's realtime ``queue_members`` table, edited as rows.

Asterisk refuses QueueRemove for them ("Member not dynamic"): the row is the
configuration of record, and Asterisk reloads a realtime queue's members from
it only when the queue is next used — silently, without QueueMemberAdded or
QueueMemberRemoved (recorded on Asterisk 22). So adding or removing one is an
INSERT or DELETE here, followed by the console's ``QueueStatus Queue: <name>``
and a reconciliation of that queue from the answer.
"""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.actions.requests import AddMember, RemoveMember
from ingest.db.engine import DatabaseUnavailable, database_errors, session_factory
from ingest.db.models import Queue, QueueMember

# Two inserts racing for the same next uniqueid: the loser takes the next one.
_UNIQUEID_ATTEMPTS = 20


class RealtimeMembers:
    """The realtime tables of the PBX's database, as the console edits them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def is_realtime_queue(self, queue: str) -> bool:
        """Whether `queue` is a row of the realtime ``queues`` table."""
        async with (
            database_errors(self._engine, "look up a realtime queue"),
            self._engine.connect() as connection,
        ):
            return bool(await connection.scalar(select(exists().where(Queue.name == queue))))

    async def has_member(self, queue: str, interface: str) -> bool:
        """Whether a ``queue_members`` row holds `interface` in `queue`."""
        async with (
            database_errors(self._engine, "look up a realtime member"),
            self._engine.connect() as connection,
        ):
            found = await connection.scalar(
                select(
                    exists().where(
                        QueueMember.queue_name == queue, QueueMember.interface == interface
                    )
                )
            )
            return bool(found)

    async def add(self, member: AddMember) -> bool:
        """Insert the row; False when it is already there (Asterisk's "Already there")."""
        async with database_errors(self._engine, "add a realtime member"):
            for _attempt in range(_UNIQUEID_ATTEMPTS):
                try:
                    return await self._insert(member)
                except IntegrityError:
                    # Another insert took that uniqueid (or the same row): a short random
                    # pause spreads a burst of adds so they do not collide again.
                    await asyncio.sleep(random.uniform(0.001, 0.02))
            raise DatabaseUnavailable(
                "cannot add a realtime member: no free uniqueid after retries"
            )

    async def _insert(self, member: AddMember) -> bool:
        async with session_factory(self._engine)() as session, session.begin():
            if await session.get(QueueMember, (member.queue, member.interface)):
                return False
            # Asterisk's schema gives uniqueid no sequence: whoever inserts picks it.
            top = await session.scalar(select(func.max(QueueMember.uniqueid)))
            session.add(
                QueueMember(
                    queue_name=member.queue,
                    interface=member.interface,
                    membername=member.member_name or member.interface,
                    state_interface=member.state_interface or None,
                    penalty=member.penalty,
                    paused=1 if member.paused else 0,
                    reason_paused=member.reason or None,
                    uniqueid=(top or 0) + 1,
                )
            )
        return True

    async def remove(self, member: RemoveMember) -> bool:
        """Delete the row; False when there was none (Asterisk's "Not there")."""
        async with (
            database_errors(self._engine, "remove a realtime member"),
            session_factory(self._engine)() as session,
            session.begin(),
        ):
            result = await session.execute(
                delete(QueueMember).where(
                    QueueMember.queue_name == member.queue,
                    QueueMember.interface == member.interface,
                )
            )
            return bool(getattr(result, "rowcount", 0))
