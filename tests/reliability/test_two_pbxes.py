"""Item 26: two PBXes from two simulators in one `queue-status serve` process (PBXES).

A real `serve` process on the shared Redis (the test's prefix) and PostgreSQL,
two simulators as the PBXes `east` and `west`, each with its own AMI secret
(PBX_WEST_AMI_SECRET). While west takes calls and a supervisor pauses its
agent, east stays quiet; then:

- every key of the test's prefix is under `{east}:` or `{west}:` (SCAN), and
  no entity of one PBX is under the other's;
- east's changes channel carried nothing while west's carried its changes
  (raw pub/sub on both), and a subscription of east (a token scoped to
  `east/*`) received nothing;
- west's calls are call records of `pbx = 'west'`, none of `east`;
- the token scoped to `east/*` gets 404 for west (REST reads, KPIs, an
  action, GraphQL NOT_FOUND) and sees only east in `pbxes`.

`make test` runs the quicker in-process version (tests/api/test_two_pbxes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from redis.asyncio import Redis

from simulator import AmiSimulator, CallCentre, CentreConfig
from simulator.config import MemberSetup, QueueSetup
from tests.reliability.conftest import AMI_SECRET
from tests.reliability.env import record
from tests.reliability.procs import ServiceProcess
from tests.reliability.wsclient import TRANSPORT_WS, GqlSocket

WEST_SECRET = "west-only-secret"
ADMIN, EAST_VIEWER = "rel-admin-token-26", "rel-east-viewer-26"
WEST_AGENT = "Local/2001@agents/n"
CALLERS = ("5552601", "5552602", "5552603")
BASE = "/api/queue-status"


def _west() -> CentreConfig:
    agent = MemberSetup(WEST_AGENT, "Wendy", "Custom:2001")
    return CentreConfig((QueueSetup("westline", "ringall", timeout=8, members=(agent,)),))


@pytest.fixture
async def sims() -> AsyncIterator[tuple[AmiSimulator, AmiSimulator]]:
    east = AmiSimulator(
        secret=AMI_SECRET, model=CallCentre(CentreConfig.lab(), seed=1), realtime=False
    )
    west = AmiSimulator(secret=WEST_SECRET, model=CallCentre(_west(), seed=2), realtime=False)
    async with east, west:
        yield east, west


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _healthy(client: httpx.AsyncClient, service: ServiceProcess) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            data: dict[str, Any] = (await client.get(f"{service.url}/healthz")).json()["data"]
            sections = data.get("pbxes", {})
            if all(
                sections.get(name, {}).get("ami", {}).get("reconciliations", 0) >= 1
                for name in ("east", "west")
            ):
                return data
            await asyncio.sleep(0.1)


async def _records(url: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pbx, caller_num FROM queue_call_records WHERE caller_num = ANY($1::text[])",
            list(CALLERS),
        )
    finally:
        await connection.close()
    return [dict(row) for row in rows]


async def _listen(redis: Redis, channel: str, into: list[bytes]) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    try:
        async for message in pubsub.listen():
            if message["type"] == "message":
                into.append(message["data"])
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _read(ws: GqlSocket, into: list[dict[str, Any]]) -> None:
    while True:
        into.append(await ws.recv(timeout=3600))


async def test_two_pbxes_share_nothing_but_the_process(
    sims: tuple[AmiSimulator, AmiSimulator], key_prefix: str, empty_db: str, redis_client: Redis
) -> None:
    east_sim, west_sim = sims
    service = ServiceProcess(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_KEY_PREFIX": key_prefix,
            "DATABASE_URL": empty_db,
            "PBXES": f"east=127.0.0.1:{east_sim.port},west=127.0.0.1:{west_sim.port}",
            "AMI_USERNAME": "admin",
            "AMI_SECRET": AMI_SECRET,
            "PBX_WEST_AMI_SECRET": WEST_SECRET,
            "API_TOKENS": f"admin:{ADMIN},viewer:{EAST_VIEWER}:east/*",
            "LOG_LEVEL": "INFO",
        },
        harness=False,
    )
    east_channel = f"{key_prefix}{{east}}:queue-status:changes"
    west_channel = f"{key_prefix}{{west}}:queue-status:changes"
    on_east: list[bytes] = []
    on_west: list[bytes] = []
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            await service.start()
            await _healthy(client, service)
            listeners = [
                asyncio.create_task(_listen(redis_client, east_channel, on_east)),
                asyncio.create_task(_listen(redis_client, west_channel, on_west)),
            ]
            ws = await GqlSocket.open(
                service.ws_url, TRANSPORT_WS, payload={"authorization": f"Bearer {EAST_VIEWER}"}
            )
            await ws.subscribe(
                "east", 'subscription { changes(pbx: "east", initial: false) { toVersion } }'
            )
            east_messages: list[dict[str, Any]] = []
            reader = asyncio.create_task(_read(ws, east_messages))
            await asyncio.sleep(0.5)

            # West works: calls and a supervisor's pause; east is quiet.
            paused = await client.post(
                f"{service.url}{BASE}/operators/Local%2F2001%40agents%2Fn/pause",
                params={"pbx": "west"},
                json={"queue": "westline", "reason": "break"},
                headers=_auth(ADMIN),
            )
            assert paused.status_code == 200, paused.text
            unpaused = await client.post(
                f"{service.url}{BASE}/operators/Local%2F2001%40agents%2Fn/unpause",
                params={"pbx": "west"},
                headers=_auth(ADMIN),
            )
            assert unpaused.status_code == 200, unpaused.text
            for number in CALLERS:
                west_sim.model.originate("westline", caller_num=number, patience=60, talk=2)
                for _ in range(6):
                    west_sim.advance(1.0)
                    await asyncio.sleep(0.05)
            async with asyncio.timeout(30):
                while len(await _records(empty_db)) < len(CALLERS):
                    west_sim.advance(1.0)
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # a stray change would have arrived by now
            stray_on_channel, stray_on_subscription = len(on_east), len(east_messages)
            # Both would have shown one of east's own changes: a pause on east.
            east_paused = await client.post(
                f"{service.url}{BASE}/operators/Local%2F1001%40agents%2Fn/pause",
                params={"pbx": "east"},
                json={"queue": "sales"},
                headers=_auth(ADMIN),
            )
            assert east_paused.status_code == 200, east_paused.text
            async with asyncio.timeout(10):
                while not (on_east and east_messages):
                    await asyncio.sleep(0.05)
            reader.cancel()
            await ws.close()
            for task in [reader, *listeners]:
                task.cancel()
            await asyncio.gather(reader, *listeners, return_exceptions=True)

            keys = [key.decode() async for key in redis_client.scan_iter(match=f"{key_prefix}*")]
            east_prefix, west_prefix = f"{key_prefix}{{east}}:", f"{key_prefix}{{west}}:"
            outside = [k for k in keys if not k.startswith((east_prefix, west_prefix))]
            crossed = [
                k
                for k in keys
                if (k.startswith(east_prefix) and ("westline" in k or "2001" in k))
                or (k.startswith(west_prefix) and ("sales" in k or "1001" in k))
            ]
            records = await _records(empty_db)

            scoped = {
                path: (
                    await client.get(
                        f"{service.url}{BASE}{path}",
                        params={"pbx": "west"},
                        headers=_auth(EAST_VIEWER),
                    )
                ).status_code
                for path in ("/operators", "/queues", "/snapshot", "/calls", "/stats/queues")
            }
            action = await client.post(
                f"{service.url}{BASE}/operators/Local%2F2001%40agents%2Fn/pause",
                params={"pbx": "west"},
                json={"queue": "westline"},
                # Refused before its body is read: the server closes the connection.
                headers={**_auth(EAST_VIEWER), "Connection": "close"},
            )
            listed = (
                await client.get(f"{service.url}{BASE}/pbxes", headers=_auth(EAST_VIEWER))
            ).json()["data"]
            graphql = (
                await client.post(
                    f"{service.url}/graphql",
                    json={"query": '{ calls(pbx: "west") { count } }'},
                    headers=_auth(EAST_VIEWER),
                )
            ).json()
            own = await client.get(
                f"{service.url}{BASE}/operators", params={"pbx": "east"}, headers=_auth(EAST_VIEWER)
            )
        finally:
            await service.stop()
            await service.close()

    assert not outside, outside[:5]
    assert not crossed, crossed[:5]
    assert on_west, "west's changes were published on its channel"
    assert stray_on_channel == 0, [orjson.loads(m) for m in on_east[:2]]
    assert stray_on_subscription == 0, east_messages[:2]
    assert east_messages[0]["type"] == "next", east_messages[0]
    assert {row["pbx"] for row in records} == {"west"} and len(records) == len(CALLERS)
    assert set(scoped.values()) == {404}, scoped
    assert action.status_code in (403, 404), action.text
    assert [p["name"] for p in listed] == ["east"]
    assert graphql["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert own.status_code == 200 and len(own.json()["data"]) > 0
    record(
        "26",
        "two PBXes (two simulators, west with its own AMI secret) in one serve process; west "
        "takes 3 calls and a pause/unpause while east is quiet",
        "every key under {east}: or {west}:; nothing on east's channel or its subscription; "
        "west's calls recorded as pbx west only; a token scoped to east/* gets 404 for west "
        "(reads, KPIs, action, GraphQL NOT_FOUND) and lists east only",
        keys=len(keys),
        keysOutsideTheirPbx=len(outside) + len(crossed),
        westChangeMessages=len(on_west),
        eastChannelMessagesFromWest=stray_on_channel,
        eastSubscriptionMessagesFromWest=stray_on_subscription,
        westRecords=len(records),
        eastRecords=sum(row["pbx"] == "east" for row in records),
        scopedTokenStatuses=sorted(set(scoped.values())),
        pbxesListedToScopedToken=len(listed),
    )
