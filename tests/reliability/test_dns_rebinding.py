"""Item 16: DNS rebinding — a foreign name pointed at the loopback server is refused.

A page on `evil.example:PORT` whose name is re-pointed to 127.0.0.1 sends
requests whose `Origin` and `Host` agree (`http://evil.example:PORT`), so the
same-origin test of the cross-origin write guard and of the WebSocket origin
check passes. On loopback without tokens — everything open — each write
(the runbook's POST, resync, clear; every GraphQL mutation over HTTP and over
both WebSocket protocols) and each read is tried that way: all must be
refused by the `Host` check (400, or a refused handshake), Redis unchanged.
The names the server does answer to still work.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.reliability.conftest import AppFactory, RunningApp
from tests.reliability.env import record
from tests.reliability.test_write_auth import GQL_WRITES, REST_WRITES, redis_dump
from tests.reliability.wsclient import PROTOCOLS

BASE = "/api/queue-status"
READS = ["/operators", "/snapshot", "/sync/status", "/operators/PJSIP%2F1001"]


def rebound(running: RunningApp, name: str = "evil.example") -> tuple[str, dict[str, str]]:
    """The `host:port` a rebinding page uses, and the headers its browser sends."""
    port = urlsplit(running.url).port
    host = f"{name}:{port}"
    return host, {"Host": host, "Origin": f"http://{host}"}


async def http_attempts(running: RunningApp) -> int:
    _, headers = rebound(running)
    tries = 0
    for _, method, path, body in REST_WRITES:
        response = await running.http.request(method, path, json=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["success"] is False
        assert "ALLOWED_HOSTS" in response.json()["error"]
        tries += 1
    for path in READS:
        response = await running.http.get(f"{BASE}{path}", headers=headers)
        assert response.status_code == 400, (path, response.text)
        tries += 1
    for _, query in GQL_WRITES:
        response = await running.http.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 400, (query, response.text)
        tries += 1
    return tries


async def ws_attempts(running: RunningApp) -> dict[str, int]:
    """Both protocols: the handshake is refused (its HTTP status per protocol)."""
    host, _ = rebound(running)
    statuses: dict[str, int] = {}
    for protocol in PROTOCOLS:
        with pytest.raises(InvalidStatus) as refused:
            # The URL names the foreign host (Host header, Origin); the TCP connection
            # goes to 127.0.0.1, as the rebound DNS name would make it.
            async with connect(
                f"ws://{host}/graphql",
                host="127.0.0.1",
                port=urlsplit(running.url).port,
                subprotocols=[Subprotocol(protocol)],
                origin=Origin(f"http://{host}"),
                open_timeout=10,
            ):
                pass  # pragma: no cover - the handshake must fail
        statuses[protocol] = refused.value.response.status_code
        assert statuses[protocol] == 400, (protocol, statuses[protocol])
    return statuses


async def test_a_rebound_name_is_refused_over_http_and_websocket(
    app_factory: AppFactory, lab_db: str, redis_client: Redis, key_prefix: str
) -> None:
    async with app_factory(database_url=lab_db) as running:
        seeded = await running.http.post(
            f"{BASE}/operators", json={"memberId": "PJSIP/1001", "status": "idle"}
        )
        assert seeded.status_code == 201, seeded.text
        before = await redis_dump(redis_client, key_prefix)
        tries = await http_attempts(running)
        statuses = await ws_attempts(running)
        after = await redis_dump(redis_client, key_prefix)
        assert after == before, "a request for a foreign host name changed Redis"
        # The names the server answers to: loopback (any port), HOST, CORS_ORIGINS' hosts.
        port = urlsplit(running.url).port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            answer = await running.http.get(f"{BASE}/operators", headers={"Host": host})
            assert answer.status_code == 200, host
        async with connect(
            running.ws_url, subprotocols=[Subprotocol(PROTOCOLS[0])], open_timeout=10
        ) as ws:
            assert ws.subprotocol == PROTOCOLS[0]
        # The runbook's curl (no Origin, Host 127.0.0.1:port) still writes.
        allowed = await running.http.delete(f"{BASE}/clear")
        assert allowed.status_code == 200
    record(
        "16",
        "DNS rebinding: Host and Origin http://evil.example:PORT (name re-pointed to "
        "127.0.0.1), loopback without tokens: REST writes and reads, GraphQL mutations, "
        "both WebSocket protocols",
        "all refused by the Host allow-list (400, handshake refused), Redis unchanged; "
        "loopback names, HOST and CORS_ORIGINS' hosts still served",
        attempts=tries + len(statuses),
        http400=tries,
        handshakes="; ".join(f"{p} {s}" for p, s in statuses.items()),
        changed=0,
    )


async def test_allowed_hosts_extend_the_defaults(app_factory: AppFactory, lab_db: str) -> None:
    async with app_factory(
        database_url=lab_db,
        allowed_hosts="wallboard.example.com, *.corp.example",
        cors_origins="https://spa.example.org/",
    ) as running:
        port = urlsplit(running.url).port

        async def status(host: str) -> int:
            return (await running.http.get("/healthz", headers={"Host": host})).status_code

        assert await status(f"wallboard.example.com:{port}") == 200
        assert await status("a.corp.example") == 200
        assert await status("spa.example.org") == 200  # a host of CORS_ORIGINS
        assert await status(f"localhost:{port}") == 200
        assert await status("corp.example.evil") == 400
        assert await status("evil-wallboard.example.com") == 400
        assert await status("") == 400


async def test_any_host_when_allowed_hosts_is_a_star(app_factory: AppFactory, lab_db: str) -> None:
    async with app_factory(database_url=lab_db, allowed_hosts="*") as running:
        answer = await running.http.get("/healthz", headers={"Host": "anything.example"})
        assert answer.status_code == 200


def test_host_header_forms() -> None:
    from api.host_guard import HostAllowList

    allowed = HostAllowList(["queue.example", "*.corp.example"])
    served = ["127.0.0.1:3000", "127.1.2.3", "LOCALHOST:1", "localhost.", "[::1]:80"]
    served += ["queue.example:443", "QUEUE.example", "x.corp.example"]
    for header in served:
        assert allowed.allows(header), header
    refused: list[str | None] = [None, "", "evil.example", "queue.example.evil", "[::2]:80"]
    refused += ["a b", "x:y", "localhost.evil.example", "127.0.0.1.evil.example"]
    for refused_header in refused:
        assert not allowed.allows(refused_header), refused_header


async def test_httpx_default_host_is_refused_too(app_factory: AppFactory, lab_db: str) -> None:
    # httpx's ASGI default "testserver" is not a name of ours either.
    async with app_factory(database_url=lab_db) as running:
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/healthz")).status_code == 400
