"""A simulated day through the whole product: AMI -> records -> PostgreSQL -> KPIs.

The simulator runs a day of traffic in model time (``realtime=False``, events
stamped with ``Timestamp`` as Asterisk's ``timestampevents = yes`` does). The
app ingests it over TCP and writes the call records; a raw AMI client reads the
same events. In the middle of the day:

- PostgreSQL goes away (a proxy refuses it) for three hours of traffic: the
  records wait in the Redis buffer and land when it is back;
- our service restarts (graceful stop, new process state): the calls open at
  that moment end as one record each;
- Asterisk restarts (a new simulator on the same port, calls in progress
  dropped without hangups, its counters at zero).

At the end ``/stats/queues`` per 15 minutes equals a straightforward
recomputation from the raw events, bucket by bucket.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.ami.message import AmiMessageDict
from ingest.records.tap import timestamp_ms
from simulator import (
    AmiSimulator,
    CallCentre,
)
from tests.api.conftest import AppFactory, LiveApp
from tests.support.ami import SECRET
from tests.support.ami_client import Client, Clients
from tests.support.day_centre import SERVICE_LEVELS, day_config
from tests.support.proxy import FaultProxy

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z: a whole number of 15-min buckets
HOUR = 3600.0
STEP = 1800.0
INTERVAL = 900
SHORT_ABANDON = 5


def _centre(now: Callable[[], float]) -> CallCentre:
    return CallCentre(
        day_config(arrival_rate=0.024, mean_patience=90), clock=now, seed=11, timestamps=True
    )


@dataclass
class Bucket:
    """The recomputation of one queue's 15 minutes, straight from the raw events."""

    offered: int = 0
    answered: int = 0
    completed: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    within: int = 0
    holds: list[int] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)


@dataclass
class RawEvents:
    """Every queue event the raw client read, reduced to what the KPIs count."""

    joined: dict[tuple[str, str], int] = field(default_factory=dict)
    """(Uniqueid, queue) -> join time, ms."""
    ends: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    received: int = 0

    def feed(self, message: AmiMessageDict) -> None:
        self.received += 1
        name = str(message.get("Event", ""))
        if name == "QueueCallerJoin":
            key = (str(message["Uniqueid"]), str(message["Queue"]))
            self.joined[key] = timestamp_ms(str(message["Timestamp"]))
        elif name in ("AgentConnect", "AgentComplete", "QueueCallerAbandon"):
            plain = {k: str(v) for k, v in message.items()}
            self.ends.append((name, plain["Uniqueid"], plain["Queue"], plain))

    def buckets(self) -> dict[tuple[str, int], Bucket]:
        out: dict[tuple[str, int], Bucket] = defaultdict(Bucket)
        start_ms = int(START * 1000)
        for (_, queue), joined in self.joined.items():
            out[(queue, (joined - start_ms) // (INTERVAL * 1000))].offered += 1
        for name, uniqueid, queue, fields in self.ends:
            bucket = out[(queue, (self.joined[(uniqueid, queue)] - start_ms) // (INTERVAL * 1000))]
            if name == "AgentConnect":
                hold = int(fields["HoldTime"])
                bucket.answered += 1
                bucket.within += hold <= SERVICE_LEVELS[queue]
                bucket.holds.append(hold)
                bucket.waits.append(hold)
            elif name == "AgentComplete":
                bucket.completed += 1
            else:
                hold = int(fields["HoldTime"])
                bucket.abandoned += 1
                bucket.short_abandoned += hold < SHORT_ABANDON
                bucket.waits.append(hold)
        return out


class Day:
    """The simulator (replaced at an Asterisk restart), the raw client, model time."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.now = START
        self.raw = RawEvents()
        self.model = _centre(lambda: self.now)
        self.sim = AmiSimulator(secret=SECRET, model=self.model, realtime=False, write_timeout=None)
        self.client: Client | None = None
        self.port = 0

    async def start(self) -> None:
        await self.sim.start()
        self.port = self.sim.port
        await self._connect()

    async def _connect(self) -> None:
        self.client = await self.clients.connect(self.port)
        await self.client.send(
            {"Action": "Login", "Username": "admin", "Secret": SECRET, "Events": "agent"}
        )
        assert (await self.client.read()).get("Response") == "Success"

    async def run_until(self, hours: float, app: LiveApp) -> None:
        """Advance model time to START + `hours`; the raw client and the app keep up."""
        while self.now < START + hours * HOUR:
            self.sim.advance(STEP)
            self.now = self.model.now
            await self._raw_catch_up(app)

    async def _raw_catch_up(self, app: LiveApp) -> None:
        assert self.client is not None
        # Caught up when the raw client has nothing more to read and the app has
        # applied all it received (both were written the same events at once).
        async with asyncio.timeout(30):
            while True:
                try:
                    async with asyncio.timeout(0.05):
                        self.raw.feed(await self.client.read())
                except TimeoutError:
                    if await _app_idle(app):
                        return

    async def restart_asterisk(self) -> None:
        """Asterisk restarts: its calls vanish without a hangup, a new process boots."""
        assert self.client is not None
        await self.sim.stop()
        await self.client.close()
        self.model = _centre(lambda: self.now)
        self.sim = AmiSimulator(
            secret=SECRET, model=self.model, realtime=False, write_timeout=None, port=self.port
        )
        await self.sim.start()
        await self._connect()


async def _health(app: LiveApp) -> dict[str, Any]:
    body: dict[str, Any] = (await app.client.get("/healthz")).json()["data"]
    return body


async def _app_idle(app: LiveApp) -> bool:
    """The app has applied everything it received, twice in a row 50 ms apart."""
    first = await _health(app)
    await asyncio.sleep(0.05)
    second = await _health(app)
    ami_first, ami_second = first["ami"], second["ami"]
    return (
        ami_second.get("amiConnected") is True
        and ami_second["ingestQueueDepth"] == 0
        and ami_first["eventsReceived"] == ami_second["eventsReceived"]
    )


async def _connected_and_reconciled(app: LiveApp, reconciliations: int = 1) -> None:
    async with asyncio.timeout(30):
        while True:
            ami = (await _health(app))["ami"]
            if ami.get("amiConnected") and ami.get("reconciliations", 0) >= reconciliations:
                return
            await asyncio.sleep(0.05)


async def test_kpis_of_a_simulated_day_equal_the_raw_events(
    live_app: AppFactory, runbook_db: str, clients: Clients
) -> None:
    postgres = FaultProxy("127.0.0.1", 5432)
    await postgres.start()
    day = Day(clients)
    await day.start()
    settings = {
        "ami_enabled": True,
        "ami_port": day.port,
        "ami_username": "admin",
        "ami_secret": SECRET,
        "database_url": runbook_db.replace(":5432/", f":{postgres.port}/"),
        "site_timezone": "UTC",
    }
    try:
        async with live_app(**settings) as app:
            await _connected_and_reconciled(app)
            await day.run_until(6, app)
            postgres.refuse()
            await day.run_until(9, app)
            records = (await _health(app))["records"]
            assert records["databaseUp"] is False and records["buffered"] > 50, records
            buffered_while_down = records["buffered"]
            postgres.restore()
            await day.run_until(12, app)
        # Our restart: calls in progress stay open across it (no model time passes).
        async with live_app(**settings) as app:
            await _connected_and_reconciled(app)
            await day.run_until(15.5, app)
            # Two calls certainly in progress when Asterisk goes (waiting or talking).
            day.model.originate("sales", caller_num="5550001", patience=3600, talk=3600)
            day.model.originate("billing", caller_num="5550002", patience=3600, talk=3600)
            await day.run_until(16, app)
            await day.restart_asterisk()
            await _connected_and_reconciled(app, reconciliations=2)
            await day.run_until(24, app)
            day.model.stop_traffic()
            await day.run_until(25, app)
            stats = await _all_written_then_stats(app)
    finally:
        await day.sim.stop()
        await postgres.stop()

    expected = day.raw.buckets()
    offered = sum(b.offered for b in expected.values())
    ended = {
        (uniqueid, queue) for name, uniqueid, queue, _ in day.raw.ends if name != "AgentConnect"
    }
    dropped = len(day.raw.joined.keys() - ended)
    print(
        f"calls offered {offered}; dropped by the Asterisk restart {dropped}; records "
        f"buffered while PostgreSQL was down {buffered_while_down}; buckets compared {len(stats)}"
    )
    assert offered > 1800
    assert dropped >= 2  # the restart hit calls in progress
    for row in stats:
        began = datetime.fromisoformat(row["from"]).timestamp()
        want = expected.get((row["queue"], int(began - START) // INTERVAL), Bucket())
        where = (row["queue"], row["from"])
        assert (
            row["offered"],
            row["answered"],
            row["completed"],
            row["abandoned"],
            row["shortAbandoned"],
            row["answeredWithinServiceLevel"],
        ) == (
            want.offered,
            want.answered,
            want.completed,
            want.abandoned,
            want.short_abandoned,
            want.within,
        ), where
        assert row["serviceLevelSeconds"] == SERVICE_LEVELS[row["queue"]], where
        assert row["longestWait"] == (max(want.waits) if want.waits else None), where
        if want.holds:
            assert row["averageSpeedOfAnswer"] == round(statistics.fmean(want.holds), 2), where
            assert row["serviceLevel"] == round(100 * want.within / want.answered, 2), where
        else:
            assert row["averageSpeedOfAnswer"] is None and row["serviceLevel"] is None, where
    compared = {(row["queue"], row["from"]) for row in stats}
    assert len(compared) == len(stats) == 3 * 25 * 4


async def _all_written_then_stats(app: LiveApp) -> list[dict[str, Any]]:
    """Once the buffer is empty and nothing is open, the day per 15 minutes."""
    async with asyncio.timeout(60):
        while True:
            records = (await _health(app))["records"]
            if records["buffered"] == 0 and records["databaseUp"]:
                break
            await asyncio.sleep(0.1)
    params = {
        "from": datetime.fromtimestamp(START, UTC).isoformat(),
        "to": datetime.fromtimestamp(START + 25 * HOUR, UTC).isoformat(),
        "interval": str(INTERVAL),
    }
    answer = await app.client.get("/api/queue-status/stats/queues", params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows
