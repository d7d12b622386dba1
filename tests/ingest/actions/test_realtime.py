"""Realtime members as rows of Asterisk's ``queue_members`` on a real, migrated PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.actions.realtime import RealtimeMembers
from ingest.actions.requests import AddMember, RemoveMember
from ingest.db.engine import DatabaseUnavailable, make_engine
from ingest.db.migrate import migrate
from ingest.db.models import Queue, QueueMember

ALICE = "Local/1001@agents/n"
FRANK = "Local/1006@agents/n"


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated PostgreSQL database of this test, with realtime queue ``rtq`` and one
    member (uniqueid 41)."""
    await migrate(pg_url)
    engine = make_engine(pg_url)
    async with engine.begin() as connection:
        await connection.execute(insert(Queue).values(name="rtq", strategy="ringall"))
        await connection.execute(
            insert(QueueMember).values(
                queue_name="rtq", interface=ALICE, membername="Alice RT", uniqueid=41
            )
        )
    try:
        yield engine
    finally:
        await engine.dispose()


async def _rows(engine: AsyncEngine) -> list[QueueMember]:
    async with engine.connect() as connection:
        result = await connection.execute(select(QueueMember).order_by(QueueMember.uniqueid))
        return list(result.all())  # type: ignore[arg-type]


async def test_add_inserts_a_row_with_the_next_uniqueid(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    member = AddMember(
        "rtq",
        FRANK,
        member_name="Frank",
        state_interface="Custom:1006",
        penalty=2,
        paused=True,
        reason="onboarding",
    )
    assert await realtime.add(member) is True
    rows = await _rows(engine)
    assert [(r.queue_name, r.interface, r.uniqueid) for r in rows] == [
        ("rtq", ALICE, 41),
        ("rtq", FRANK, 42),
    ]
    frank = rows[1]
    assert (frank.membername, frank.state_interface, frank.penalty) == ("Frank", "Custom:1006", 2)
    assert (frank.paused, frank.reason_paused) == (1, "onboarding")


async def test_add_fills_defaults_as_asterisk_reads_them(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    assert await realtime.add(AddMember("sales-rt", FRANK)) is True
    (frank,) = [r for r in await _rows(engine) if r.interface == FRANK]
    # No name: the interface; no state interface / reason: NULL; not paused: 0.
    assert (frank.membername, frank.state_interface, frank.reason_paused) == (FRANK, None, None)
    assert (frank.penalty, frank.paused, frank.uniqueid) == (0, 0, 42)


async def test_add_twice_is_already_there(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    assert await realtime.add(AddMember("rtq", FRANK)) is True
    assert await realtime.add(AddMember("rtq", FRANK, penalty=5)) is False
    assert await realtime.add(AddMember("rtq", ALICE)) is False
    rows = await _rows(engine)
    assert len(rows) == 2
    assert [r.penalty for r in rows if r.interface == FRANK] == [0], "the row is left as it was"


async def test_the_same_interface_in_another_queue_is_another_row(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    assert await realtime.add(AddMember("other", ALICE)) is True
    assert [(r.queue_name, r.uniqueid) for r in await _rows(engine)] == [
        ("rtq", 41),
        ("other", 42),
    ]


async def test_concurrent_adds_each_get_their_own_uniqueid(engine: AsyncEngine) -> None:
    # Each lost race is another add's win: five racing adds need at most five attempts
    # (the limit of `RealtimeMembers.add`).
    realtime = RealtimeMembers(engine)
    members = [AddMember("rtq", f"Local/20{i:02d}@agents/n") for i in range(5)]
    assert await asyncio.gather(*(realtime.add(m) for m in members)) == [True] * 5
    ids = [r.uniqueid for r in await _rows(engine)]
    assert sorted(ids) == list(range(41, 47))


async def test_remove_deletes_the_row_once(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    assert await realtime.remove(RemoveMember("rtq", ALICE)) is True
    assert await realtime.remove(RemoveMember("rtq", ALICE)) is False
    assert await _rows(engine) == []
    assert await realtime.remove(RemoveMember("nosuch", FRANK)) is False


async def test_remove_touches_only_that_queue(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    await realtime.add(AddMember("other", ALICE))
    assert await realtime.remove(RemoveMember("rtq", ALICE)) is True
    assert [(r.queue_name, r.interface) for r in await _rows(engine)] == [("other", ALICE)]


async def test_is_realtime_queue_and_has_member(engine: AsyncEngine) -> None:
    realtime = RealtimeMembers(engine)
    assert await realtime.is_realtime_queue("rtq") is True
    assert await realtime.is_realtime_queue("sales") is False
    assert await realtime.has_member("rtq", ALICE) is True
    assert await realtime.has_member("rtq", FRANK) is False
    assert await realtime.has_member("sales", ALICE) is False
    await realtime.add(AddMember("rtq", FRANK))
    assert await realtime.has_member("rtq", FRANK) is True
    await realtime.remove(RemoveMember("rtq", FRANK))
    assert await realtime.has_member("rtq", FRANK) is False


async def test_an_unreachable_database_is_unavailable() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        realtime = RealtimeMembers(engine)
        with pytest.raises(DatabaseUnavailable, match="cannot look up a realtime queue"):
            await realtime.is_realtime_queue("rtq")
        with pytest.raises(DatabaseUnavailable, match="cannot add a realtime member"):
            await realtime.add(AddMember("rtq", FRANK))
        with pytest.raises(DatabaseUnavailable, match="cannot remove a realtime member"):
            await realtime.remove(RemoveMember("rtq", FRANK))
    finally:
        await engine.dispose()
