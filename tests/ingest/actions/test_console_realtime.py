"""Realtime members through the console: a row of ``queue_members`` on real PostgreSQL, then
``QueueStatus Queue: <name>`` (when Asterisk reloads the queue, silently) and that queue
reconciled from the answer — with the real ingest on real Redis and the simulated Asterisk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.actions.console import AsteriskConsole
from ingest.actions.realtime import RealtimeMembers
from ingest.actions.requests import AddMember, RemoveMember
from ingest.actions.verdicts import AsteriskRefused, RefusalKind
from ingest.ami.message import AmiMessageDict
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.db.models import Queue, QueueMember
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.ingest.actions.conftest import membership
from tests.support.ami import SECRET, LiveIngest

FRANK = "Local/1006@agents/n"


class _ReloadsOnQueueStatus(AmiSimulator):
    """An Asterisk that reloads a realtime queue from its table when asked its status:
    the test says what the reload changes; no event tells."""

    reloads: list[Callable[[CallCentre], None]]

    def answer(
        self, name: str, message: AmiMessageDict, action_id: str | None
    ) -> list[AmiMessageDict] | None:
        if name == "queuestatus" and message.get("Queue") and self.reloads:
            self.reloads.pop(0)(self.model)
            self.model.drain()
        return super().answer(name, message, action_id)


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database where ``billing`` is a realtime queue (and ``sales`` a row too)."""
    await migrate(pg_url)
    engine = make_engine(pg_url)
    async with engine.begin() as connection:
        await connection.execute(insert(Queue), [{"name": "billing"}, {"name": "sales"}])
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def simulator() -> AsyncIterator[_ReloadsOnQueueStatus]:
    sim = _ReloadsOnQueueStatus(
        secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=1), realtime=False
    )
    sim.reloads = []
    async with sim:
        yield sim


@pytest.fixture
def console(live: LiveIngest, store: StateStore, engine: AsyncEngine) -> AsteriskConsole:
    return AsteriskConsole(live.ingest, store, realtime=RealtimeMembers(engine))


async def _rows(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(QueueMember.queue_name, QueueMember.interface).order_by(QueueMember.uniqueid)
        )
        return [(str(q), str(i)) for q, i in result.all()]


async def test_realtime_add_and_remove_edit_the_row_and_reconcile_the_queue(
    console: AsteriskConsole,
    simulator: _ReloadsOnQueueStatus,
    store: StateStore,
    engine: AsyncEngine,
) -> None:
    simulator.reloads.append(lambda m: m.queue_add("billing", FRANK, name="Frank"))
    outcome = await console.add_member(AddMember("billing", FRANK, member_name="Frank"))
    assert (outcome.confirmed, outcome.via) == (True, "realtime")
    assert await _rows(engine) == [("billing", FRANK)]
    member = await membership(store, FRANK, "billing")
    assert member is not None and member["memberName"] == "Frank"
    assert simulator.actions_received["QueueAdd"] == 0

    with pytest.raises(AsteriskRefused) as refused:
        await console.add_member(AddMember("billing", FRANK))
    assert refused.value.kind is RefusalKind.CONFLICT
    assert refused.value.asterisk_message == "Unable to add interface: Already there"

    simulator.reloads.append(lambda m: m.queue_remove("billing", FRANK))
    outcome = await console.remove_member(RemoveMember("billing", FRANK))
    assert (outcome.confirmed, outcome.via) == (True, "realtime")
    assert await _rows(engine) == []
    assert await membership(store, FRANK, "billing") is None
    assert simulator.actions_received["QueueRemove"] == 0


async def test_a_reload_that_does_not_show_the_member_is_pending(
    console: AsteriskConsole, simulator: AmiSimulator, store: StateStore, engine: AsyncEngine
) -> None:
    outcome = await console.add_member(AddMember("billing", FRANK))
    assert (outcome.confirmed, outcome.via) == (False, "realtime")
    assert await _rows(engine) == [("billing", FRANK)], "the row is the record"
    assert await membership(store, FRANK, "billing") is None


async def test_a_queue_with_static_members_is_not_edited_as_rows(
    console: AsteriskConsole, simulator: AmiSimulator, store: StateStore, engine: AsyncEngine
) -> None:
    # sales is a row of `queues`, but queues.conf gives it static members: queues.conf wins.
    outcome = await console.add_member(AddMember("sales", FRANK, member_name="Frank"))
    assert (outcome.confirmed, outcome.via) == (True, "ami")
    assert simulator.actions_received["QueueAdd"] == 1
    assert await _rows(engine) == []
    # Not a realtime row either: removed with QueueRemove.
    outcome = await console.remove_member(RemoveMember("sales", FRANK))
    assert (outcome.confirmed, outcome.via) == (True, "ami")
    assert simulator.actions_received["QueueRemove"] == 1


async def test_a_queue_without_a_realtime_row_goes_over_ami(
    console: AsteriskConsole, simulator: AmiSimulator, engine: AsyncEngine
) -> None:
    outcome = await console.add_member(AddMember("support", FRANK))
    assert outcome.via == "ami" and outcome.confirmed
    assert await _rows(engine) == []
