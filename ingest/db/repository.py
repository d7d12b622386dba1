"""Read side of the realtime tables, as the DB → Redis sync needs it.

Rows become frozen dataclasses with ``app_queue``'s own fallbacks applied, so
the rest of the service sees a member the way Asterisk will: a NULL membername
is the interface, a negative penalty is 0, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.engine import DatabaseUnavailable, database_errors, session_factory
from ingest.db.models import Queue, QueueAutopause, QueueMember, QueueStrategy

__all__ = [
    "DatabaseUnavailable",
    "DbConfig",
    "MemberConfig",
    "QueueConfig",
    "count_rows",
    "load_config",
    "member_config_from_row",
    "queue_config_from_row",
]

# app_queue's init_queue() values, used when a column is NULL.
DEFAULT_STRATEGY: QueueStrategy = "ringall"
DEFAULT_TIMEOUT = 15
DEFAULT_RETRY = 5

# ast_true(): what Asterisk reads as "yes" in a config value.
_AST_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_STRATEGIES: tuple[QueueStrategy, ...] = get_args(QueueStrategy)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """A queue as app_queue configures it from its ``queues`` row.

    Fields left NULL in the row carry Asterisk's defaults. ``join_empty`` and
    ``leave_when_empty`` stay as written (comma lists such as
    ``paused,unavailable``); None means Asterisk's default (no restriction).
    """

    name: str
    strategy: QueueStrategy = DEFAULT_STRATEGY
    service_level: int = 0
    wrapup_time: int = 0
    timeout: int = DEFAULT_TIMEOUT
    max_len: int = 0
    weight: int = 0
    retry: int = DEFAULT_RETRY
    ringinuse: bool = True
    autopause: QueueAutopause = "no"
    join_empty: str | None = None
    leave_when_empty: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberConfig:
    """One ``queue_members`` row as app_queue loads it (``Membership: realtime``).

    ``wrapup_time`` None means the queue's wrapuptime applies (Asterisk treats
    0 the same way); ``ringinuse`` None means the queue's ringinuse applies;
    ``paused_reason`` is None when there is no reason.
    """

    queue_name: str
    interface: str
    member_name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str | None = None
    wrapup_time: int | None = None
    ringinuse: bool | None = None
    uniqueid: int


@dataclass(frozen=True, slots=True)
class DbConfig:
    """Everything the realtime tables say: queues sorted by name, members by (queue, interface)."""

    queues: tuple[QueueConfig, ...]
    members: tuple[MemberConfig, ...]

    def wrapup_time_of(self, member: MemberConfig) -> int:
        """Seconds of wrap-up after a call: the member's own, else its queue's."""
        if member.wrapup_time is not None:
            return member.wrapup_time
        return next((q.wrapup_time for q in self.queues if q.name == member.queue_name), 0)


def queue_config_from_row(row: Queue) -> QueueConfig:
    """Apply app_queue's defaults to a ``queues`` row."""
    return QueueConfig(
        name=row.name,
        strategy=_strategy(row.strategy),
        service_level=_int_or(row.servicelevel, 0),
        wrapup_time=_int_or(row.wrapuptime, 0),
        timeout=_int_or(row.timeout, DEFAULT_TIMEOUT),
        max_len=_int_or(row.maxlen, 0),
        weight=_int_or(row.weight, 0),
        retry=_int_or(row.retry, DEFAULT_RETRY),
        ringinuse=True if row.ringinuse is None else _ast_true(row.ringinuse),
        autopause=_autopause(row.autopause),
        join_empty=row.joinempty or None,
        leave_when_empty=row.leavewhenempty or None,
    )


def member_config_from_row(row: QueueMember) -> MemberConfig:
    """Apply app_queue's fallbacks (``rt_handle_member_record``) to a ``queue_members`` row."""
    return MemberConfig(
        queue_name=row.queue_name,
        interface=row.interface,
        # S_OR(): an empty string falls back like NULL does.
        member_name=row.membername or row.interface,
        state_interface=row.state_interface or row.interface,
        penalty=max(row.penalty or 0, 0),
        paused=(row.paused or 0) > 0,
        paused_reason=row.reason_paused or None,
        wrapup_time=row.wrapuptime if row.wrapuptime and row.wrapuptime > 0 else None,
        ringinuse=None if row.ringinuse is None else _ast_true(row.ringinuse),
        uniqueid=row.uniqueid,
    )


async def load_config(engine: AsyncEngine) -> DbConfig:
    """Read ``queues`` and ``queue_members`` (two queries, one transaction).

    Raises :class:`DatabaseUnavailable` on any database error, including
    missing tables (run ``queue-status migrate``).
    """
    async with (
        database_errors(engine, "read the queue configuration"),
        session_factory(engine)() as session,
        session.begin(),
    ):
        queues = await session.scalars(select(Queue).order_by(Queue.name))
        members = await session.scalars(
            select(QueueMember).order_by(QueueMember.queue_name, QueueMember.interface)
        )
        return DbConfig(
            queues=tuple(queue_config_from_row(row) for row in queues),
            members=tuple(member_config_from_row(row) for row in members),
        )


async def count_rows(engine: AsyncEngine) -> tuple[int, int]:
    """``(queue_members rows, queues rows)``, as the sync status reports them."""
    async with (
        database_errors(engine, "count the queue configuration"),
        engine.connect() as connection,
    ):
        members = await connection.scalar(select(func.count()).select_from(QueueMember))
        queues = await connection.scalar(select(func.count()).select_from(Queue))
        return int(members or 0), int(queues or 0)


def _int_or(value: int | None, default: int) -> int:
    return default if value is None else value


def _ast_true(value: str) -> bool:
    return value.strip().lower() in _AST_TRUE


def _strategy(value: str | None) -> QueueStrategy:
    # PostgreSQL's enum type only admits valid names; SQLite stores any text,
    # and app_queue falls back to ringall (with a warning) for what it can't parse.
    name = (value or "").strip().lower()
    return next((known for known in _STRATEGIES if known == name), DEFAULT_STRATEGY)


def _autopause(value: str | None) -> QueueAutopause:
    # autopause2int(): "all" or a boolean.
    if value is not None and value.strip().lower() == "all":
        return "all"
    return "yes" if value is not None and _ast_true(value) else "no"
