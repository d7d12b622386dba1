"""Two PBXes in one app (PBXES): two simulators, one Redis prefix, one database.

Each PBX is a namespace: its keys under `{name}:`, its live state, its changes
(subscriptions), its call records (`pbx`), its supervisor actions (its AMI);
a token scoped to one PBX sees nothing of the other (404, as for a PBX that
does not exist).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from gql import GraphQLRequest
from redis.asyncio import Redis

from api.app import create_app
from ingest.db.migrate import migrate
from ingest.logs import configure_logging, reset_logging
from simulator import AmiSimulator, CallCentre, CentreConfig
from simulator.config import MemberSetup, QueueSetup
from tests.support.ami import SECRET
from tests.support.graphql_ws import graphql_ws_session
from tests.support.server import run_server
from tests.support.settings import test_settings as make_settings

BASE = "/api/queue-status"
ADMIN, EAST_VIEWER, WEST_SUPERVISOR = "admin-token-1", "east-viewer-1", "west-super-1"
EAST_ADMIN = "east-admin-1"
TOKENS = (
    f"admin:{ADMIN},viewer:{EAST_VIEWER}:east/*,supervisor:{WEST_SUPERVISOR}:west/*,"
    f"admin:{EAST_ADMIN}:east/*"
)
WEST_AGENT = "Local/2001@agents/n"
WEST_CALLER = "5550199"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def west_centre() -> CentreConfig:
    """A centre of its own: one queue and one agent the lab (east) does not have."""
    agent = MemberSetup(WEST_AGENT, "Wendy", "Custom:2001")
    return CentreConfig((QueueSetup("westline", "ringall", timeout=8, members=(agent,)),))


@dataclass
class TwoPbxes:
    client: httpx.AsyncClient
    url: str
    east: AmiSimulator
    west: AmiSimulator
    database_url: str

    async def get(self, path: str, token: str = ADMIN, **params: str) -> httpx.Response:
        return await self.client.get(
            BASE + path, params=params, headers={"Authorization": f"Bearer {token}"}
        )

    async def graphql(self, query: str, token: str = ADMIN) -> dict[str, Any]:
        answer = await self.client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
async def two(pg_url: str, key_prefix: str) -> AsyncIterator[TwoPbxes]:
    await migrate(pg_url)  # no realtime rows: each PBX's queues come from its own AMI
    async with (
        AmiSimulator(
            secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=1), realtime=False
        ) as east,
        AmiSimulator(
            secret=SECRET, model=CallCentre(west_centre(), seed=2), realtime=False
        ) as west,
    ):
        settings = make_settings(
            prefix=key_prefix,
            database_url=pg_url,
            ami_enabled=True,
            ami_secret=SECRET,
            pbxes=f"east=127.0.0.1:{east.port},west=127.0.0.1:{west.port}",
            api_tokens=TOKENS,
            action_confirm_timeout=5.0,
        )
        app = create_app(settings)
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            running = TwoPbxes(client, url, east, west, pg_url)
            await _reconciled(running)
            yield running


async def _reconciled(two: TwoPbxes) -> None:
    async with asyncio.timeout(20):
        while True:
            health = (await two.client.get("/healthz")).json()["data"]
            sections = health.get("pbxes", {})
            if all(
                sections.get(name, {}).get("ami", {}).get("reconciliations", 0) >= 1
                for name in ("east", "west")
            ):
                return
            await asyncio.sleep(0.05)


def _members(body: dict[str, Any]) -> set[str]:
    return {op["memberId"] for op in body["data"]}


async def test_each_pbx_reads_its_own_state_over_rest_and_graphql(two: TwoPbxes) -> None:
    east = _members((await two.get("/operators", pbx="east")).json())
    west = _members((await two.get("/operators", pbx="west")).json())
    assert "Local/1001@agents/n" in east and WEST_AGENT not in east
    assert west == {WEST_AGENT}
    assert _members((await two.get("/operators")).json()) == east, "no ?pbx=: the first"
    queues = {q["name"] for q in (await two.get("/queues", pbx="west")).json()["data"]}
    assert queues == {"westline"}

    listing = (await two.get("/pbxes")).json()
    assert [p["name"] for p in listing["data"]] == ["east", "west"]
    assert all(p["amiConnected"] and p["leadership"] == "leader" for p in listing["data"])

    answer = await two.graphql('{ operators(pbx: "west") { memberId } pbxes { name } }')
    assert answer["data"]["operators"] == [{"memberId": WEST_AGENT}]
    assert [p["name"] for p in answer["data"]["pbxes"]] == ["east", "west"]
    # Nested lookups read the root field's PBX.
    nested = await two.graphql(
        '{ queue(pbx: "west", name: "westline") { operators { memberId } } }'
    )
    assert nested["data"]["queue"]["operators"] == [{"memberId": WEST_AGENT}]
    missing = await two.graphql("{ operators { memberId } }")
    assert missing["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "pbx" in missing["errors"][0]["message"]


async def test_the_keys_of_each_pbx_are_under_its_prefix(two: TwoPbxes, key_prefix: str) -> None:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        found = [key.decode() async for key in redis.scan_iter(match=f"{key_prefix}*")]
    finally:
        await redis.aclose()
    east, west = f"{key_prefix}{{east}}:", f"{key_prefix}{{west}}:"
    assert found and all(key.startswith((east, west)) for key in found), found
    assert f"{west}queue:status:westline" in found
    assert not [key for key in found if key.startswith(east) and "westline" in key]
    assert not [key for key in found if key.startswith(west) and "1001" in key]


async def test_a_token_scoped_to_one_pbx_sees_nothing_of_the_other(two: TwoPbxes) -> None:
    refused = await two.get("/operators", EAST_VIEWER, pbx="west")
    unknown = await two.get("/operators", EAST_VIEWER, pbx="north")
    assert (refused.status_code, unknown.status_code) == (404, 404)
    assert refused.json() == {"success": False, "error": "no such PBX: 'west'"}
    assert unknown.json()["error"] == "no such PBX: 'north'"
    assert (await two.get("/operators", EAST_VIEWER, pbx="east")).status_code == 200
    listing = (await two.get("/pbxes", EAST_VIEWER)).json()["data"]
    assert [p["name"] for p in listing] == ["east"]
    # The west supervisor: its default PBX (east) is out of its scope, west is its own.
    assert (await two.get("/operators", WEST_SUPERVISOR)).status_code == 404
    assert _members((await two.get("/operators", WEST_SUPERVISOR, pbx="west")).json()) == {
        WEST_AGENT
    }

    answer = await two.graphql('{ operators(pbx: "west") { memberId } }', EAST_VIEWER)
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [
        p["name"] for p in (await two.graphql("{ pbxes { name } }", EAST_VIEWER))["data"]["pbxes"]
    ] == ["east"]

    # An action on the other PBX: 404, nothing sent to its Asterisk.
    before = two.east.model.truth()
    acted = await two.client.post(
        f"{BASE}/operators/Local%2F1001%40agents%2Fn/pause",
        params={"pbx": "east"},
        json={"queue": "sales"},
        headers={"Authorization": f"Bearer {WEST_SUPERVISOR}"},
    )
    assert acted.status_code == 404, acted.text
    assert two.east.model.truth() == before


async def test_changes_and_actions_stay_on_their_pbx(two: TwoPbxes) -> None:
    ws_url = two.url.replace("http", "ws", 1) + "/graphql"
    document = (
        "subscription($pbx: String) { operatorUpdated(pbx: $pbx, initial: false) "
        "{ operators { memberId paused } } }"
    )
    seen: dict[str, list[set[str]]] = {"east": [], "west": []}

    async def follow(pbx: str, session: Any) -> None:
        request = GraphQLRequest(document, variable_values={"pbx": pbx})
        async for update in session.subscribe(request):
            seen[pbx].append({op["memberId"] for op in update["operatorUpdated"]["operators"]})

    async with (
        graphql_ws_session(ws_url, "graphql-transport-ws", ADMIN) as east_session,
        graphql_ws_session(ws_url, "graphql-transport-ws", ADMIN) as west_session,
    ):
        tasks = [
            asyncio.create_task(follow("east", east_session)),
            asyncio.create_task(follow("west", west_session)),
        ]
        await asyncio.sleep(0.3)  # both subscribed
        paused = await two.client.post(
            f"{BASE}/operators/{WEST_AGENT.replace('/', '%2F').replace('@', '%40')}/pause",
            params={"pbx": "west"},
            json={"queue": "westline", "reason": "lunch"},
            headers={"Authorization": f"Bearer {WEST_SUPERVISOR}"},
        )
        assert paused.status_code == 200, paused.text
        async with asyncio.timeout(10):
            while not seen["west"] and not any(task.done() for task in tasks):
                await asyncio.sleep(0.02)
        for task in tasks:
            if task.done():
                task.result()  # a subscription that failed says why
        await asyncio.sleep(0.3)  # time for a stray change to reach east's subscriber
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert seen["west"][0] == {WEST_AGENT}
    assert seen["east"] == []
    truth = two.west.model.truth()
    assert "lunch" in str(truth)  # sent to west's Asterisk
    west_op = (await two.get(f"/operators/{WEST_AGENT}", pbx="west")).json()["data"]
    assert west_op["paused"] is True
    assert (await two.get(f"/operators/{WEST_AGENT}", pbx="east")).status_code == 404

    audit = (await two.get("/audit", pbx="west")).json()
    entries = [e for e in audit["data"] if e["action"] == "pauseOperator"]
    assert entries and all(e["arguments"]["pbx"] == "west" for e in entries)
    assert (await two.get("/audit", pbx="east")).json()["data"] == []


async def test_call_records_carry_their_pbx(two: TwoPbxes) -> None:
    two.west.model.originate("westline", caller_num=WEST_CALLER, patience=60, talk=2)
    async with asyncio.timeout(30):
        while not await _records(two.database_url):
            two.west.advance(1.0)
            await asyncio.sleep(0.05)
    assert {row["pbx"] for row in await _records(two.database_url)} == {"west"}

    def numbers(answer: dict[str, Any]) -> set[str]:
        return {call["callerNumber"] for call in answer["data"]["calls"]["calls"]}

    west = await two.graphql('{ calls(pbx: "west") { calls { callerNumber } } }')
    east = await two.graphql('{ calls(pbx: "east") { calls { callerNumber } } }')
    assert WEST_CALLER in numbers(west)
    assert WEST_CALLER not in numbers(east)
    rest = (await two.get("/calls", pbx="east")).json()
    assert WEST_CALLER not in {c.get("callerNumber") for c in rest["data"]}
    rest_west = (await two.get("/calls", pbx="west")).json()
    assert WEST_CALLER in {c.get("callerNumber") for c in rest_west["data"]}
    scoped = await two.graphql('{ calls(pbx: "west") { calls { callerNumber } } }', EAST_VIEWER)
    assert scoped["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_alert_rules_watch_their_pbx(two: TwoPbxes) -> None:
    # Fewer than 1 available member in any queue: east's billing (no members) would fire.
    rule = {"name": "nobody free", "kind": "available_operators", "threshold": 1, "pbx": "west"}
    created = await two.client.post(
        f"{BASE}/alerts/rules", params={"pbx": "west"}, json=rule, headers=_auth(ADMIN)
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["pbx"] == "west"
    assert [r["pbx"] for r in (await two.get("/alerts/rules", pbx="west")).json()["data"]] == [
        "west"
    ]
    assert (await two.get("/alerts/rules", pbx="east")).json()["data"] == []
    elsewhere = await two.client.post(
        f"{BASE}/alerts/rules", params={"pbx": "east"}, json=rule, headers=_auth(ADMIN)
    )
    assert elsewhere.status_code == 422 and "pbx" in elsewhere.json()["error"]
    every = {**rule, "pbx": None}
    refused = await two.client.post(
        f"{BASE}/alerts/rules", params={"pbx": "east"}, json=every, headers=_auth(EAST_ADMIN)
    )
    assert refused.status_code == 403, refused.text
    assert (await two.get("/alerts/rules", EAST_ADMIN, pbx="west")).status_code == 404

    paused = await two.client.post(
        f"{BASE}/operators/{WEST_AGENT.replace('/', '%2F').replace('@', '%40')}/pause",
        params={"pbx": "west"},
        json={"queue": "westline"},
        headers=_auth(ADMIN),
    )
    assert paused.status_code == 200, paused.text
    async with asyncio.timeout(15):
        while not (firing := (await two.get("/alerts", pbx="west")).json()["data"]):
            await asyncio.sleep(0.1)
    assert [(a["subject"], a["pbx"]) for a in firing] == [("westline", "west")]
    assert "on PBX west" in firing[0]["text"]
    assert (await two.get("/alerts", pbx="east")).json()["data"] == []
    answer = await two.graphql('{ activeAlerts(pbx: "west") { subject pbx rule { pbx } } }')
    assert answer["data"]["activeAlerts"] == [
        {"subject": "westline", "pbx": "west", "rule": {"pbx": "west"}}
    ]


async def test_metrics_carry_the_pbx(two: TwoPbxes) -> None:
    text = (await two.client.get("/metrics")).text
    assert 'queue_status_ingest_leader{pbx="east"} 1.0' in text
    assert 'queue_status_ingest_leader{pbx="west"} 1.0' in text
    assert text.count("# TYPE queue_status_ingest_leader gauge") == 1
    assert "queue_status_http_requests_total{" in text


async def _records(url: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(url)
    try:
        found = await connection.fetch(
            "SELECT pbx, outcome FROM queue_call_records WHERE caller_num = $1", WEST_CALLER
        )
    finally:
        await connection.close()
    return [dict(row) for row in found if row["outcome"]]


async def test_nested_lookups_follow_their_own_operation_pbx(two: TwoPbxes) -> None:
    """Two subscriptions on one connection with the same response key, each on its PBX
    and outside the shared fan-out (its root field in a fragment): each one's nested
    `operators` are read on its own PBX, whichever subscribed last."""
    ws_url = two.url.replace("http", "ws", 1) + "/graphql"
    document = (
        "subscription($pbx: String, $name: String) { ...Root } "
        "fragment Root on Subscription { queueUpdated(pbx: $pbx, name: $name, "
        "initial: false) { queues { name operators { memberId } } } }"
    )
    wanted = {"east": "sales", "west": "westline"}
    seen: dict[str, list[dict[str, set[str]]]] = {"east": [], "west": []}

    async def follow(pbx: str, session: Any) -> None:
        request = GraphQLRequest(document, variable_values={"pbx": pbx, "name": wanted[pbx]})
        async for update in session.subscribe(request):
            queues = update["queueUpdated"]["queues"]
            seen[pbx].append({q["name"]: {op["memberId"] for op in q["operators"]} for q in queues})

    async with graphql_ws_session(ws_url, "graphql-transport-ws", ADMIN) as session:
        tasks = [asyncio.create_task(follow(pbx, session)) for pbx in ("east", "west")]
        await asyncio.sleep(0.3)  # both subscribed
        for pbx, member, queue in (
            ("east", "Local/1001@agents/n", "sales"),
            ("west", WEST_AGENT, "westline"),
        ):
            paused = await two.client.post(
                f"{BASE}/operators/{member.replace('/', '%2F').replace('@', '%40')}/pause",
                params={"pbx": pbx},
                json={"queue": queue},
                headers=_auth(ADMIN),
            )
            assert paused.status_code == 200, paused.text
        async with asyncio.timeout(10):
            while not (seen["east"] and seen["west"]) and not any(t.done() for t in tasks):
                await asyncio.sleep(0.02)
        for task in tasks:
            if task.done():
                task.result()  # a subscription that failed says why
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    east_members = seen["east"][0]["sales"]
    assert "Local/1001@agents/n" in east_members and WEST_AGENT not in east_members
    assert seen["west"][0] == {"westline": {WEST_AGENT}}

    # One request, aliases on both PBXes: each alias's nested lookups on its own PBX.
    answer = await two.graphql(
        '{ e: queue(pbx: "east", name: "sales") { operators { memberId } } '
        'w: queue(pbx: "west", name: "westline") { operators { memberId } } }'
    )
    east_ops = {op["memberId"] for op in answer["data"]["e"]["operators"]}
    assert "Local/1001@agents/n" in east_ops and WEST_AGENT not in east_ops
    assert answer["data"]["w"]["operators"] == [{"memberId": WEST_AGENT}]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """LOG_FILE as the process writes it, configured before the app starts."""
    path = tmp_path / "app.log"
    configure_logging("INFO", path)
    yield path
    reset_logging()


PBX_COMPONENTS = ("AmiService", "QueueDataSyncService", "IngestElection", "CallRecords")


async def test_log_lines_on_behalf_of_a_pbx_name_it(log_file: Path, two: TwoPbxes) -> None:
    resynced = await two.client.post(
        f"{BASE}/sync/resync", params={"pbx": "west"}, headers=_auth(ADMIN)
    )
    assert resynced.status_code == 200, resynced.text
    over_graphql = await two.client.post(
        "/graphql",
        json={"query": 'mutation { resync(pbx: "east") { queues } }'},
        headers=_auth(ADMIN),
    )
    assert over_graphql.json().get("errors") is None, over_graphql.text
    lines = (await asyncio.to_thread(log_file.read_text, encoding="utf-8")).splitlines()
    for pbx in ("east", "west"):
        for expected in (
            f"[QueueDataSyncService] [{pbx}] Starting queue data synchronization from DB to Redis",
            f"[AmiService] [{pbx}] Connecting to AMI 127.0.0.1:",
            f"[AmiService] [{pbx}] AMI connected",
            f"[AmiService] [{pbx}] Reconciled with Asterisk:",
            f"[IngestElection] [{pbx}] ",
        ):
            assert any(expected in line for line in lines), (expected, lines)
    west_syncs = [line for line in lines if "[west] Starting queue data synchronization" in line]
    assert len(west_syncs) >= 2, "the resync of ?pbx=west names west"
    east_syncs = [line for line in lines if "[east] Starting queue data synchronization" in line]
    assert len(east_syncs) >= 2, "the resync mutation on east names east"
    unnamed = [
        line
        for line in lines
        if any(f"[{c}] " in line for c in PBX_COMPONENTS)
        and not any(f"[{c}] [east] " in line or f"[{c}] [west] " in line for c in PBX_COMPONENTS)
    ]
    assert unnamed == []


async def test_without_pbxes_log_lines_are_the_documented_ones(
    log_file: Path, pg_url: str, key_prefix: str
) -> None:
    """One PBX (no PBXES): the runbook's lines, byte for byte after the time and level."""
    await migrate(pg_url)
    async with AmiSimulator(
        secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=1), realtime=False
    ) as sim:
        port = sim.port
        settings = make_settings(
            prefix=key_prefix,
            database_url=pg_url,
            ami_enabled=True,
            ami_secret=SECRET,
            ami_port=sim.port,
            api_tokens=TOKENS,
        )
        app = create_app(settings)
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            resynced = await client.post(f"{BASE}/sync/resync", headers=_auth(ADMIN))
            assert resynced.status_code == 200, resynced.text
    lines = (await asyncio.to_thread(log_file.read_text, encoding="utf-8")).splitlines()
    # "2026-01-01 12:00:00,000 INFO  [Component] message": the level padded to 5.
    shapes = {re.sub(r"^\S+ \S+ INFO  ", "", line) for line in lines}
    for documented in (
        "[QueueDataSyncService] Starting queue data synchronization from DB to Redis",
        "[QueueDataSyncService] Queue data synchronization completed successfully",
        f"[AmiService] Connecting to AMI 127.0.0.1:{port} as admin",
        "[AmiService] AMI connected",
    ):
        assert documented in shapes, (documented, lines)
    assert not [line for line in lines if "[default]" in line]
