"""Item 15: secrets canary through every failure path, every logger at DEBUG.

The AMI secret, the Redis password (our own redis-server with requirepass),
the database password and one API token per role are unique random strings.
The real `queue-status serve` runs as a subprocess at LOG_LEVEL=DEBUG behind
fault proxies, and the test drives it through the failure paths of the other
items: wrong and right tokens over REST, GraphQL and both WebSocket protocols,
bad input and abusive queries, the AMI link reset and blackholed, the AMI login
refused, Redis' link reset, Redis frozen, killed and restarted, PostgreSQL's
connections terminated and PostgreSQL restarted, and a SIGTERM at the end.

Then no secret may appear — raw, or URL-, JSON-, repr-, base64- or
hex-encoded — in anything the service printed or logged, nor in any HTTP
answer or WebSocket message it sent.
"""

from __future__ import annotations

import asyncio
import base64
import secrets as random_secrets
from typing import Any

import httpx
import pytest

from ingest.ami.redact import secret_forms
from tests.reliability.chaos import ChaosProxy
from tests.reliability.conftest import lab_database, simulator
from tests.reliability.env import record
from tests.reliability.procs import PostgresCluster, RedisServer, ServiceProcess
from tests.reliability.test_query_abuse import cases
from tests.reliability.wsclient import PROTOCOLS, GqlSocket

BASE = "/api/queue-status"


def canary(label: str) -> str:
    return f"{label}{random_secrets.token_hex(12)}"


def encodings(secret: str) -> set[str]:
    """Every spelling to look for: the redactor's own forms, base64 at each alignment, hex."""
    raw = secret.encode()
    forms = set(secret_forms(secret))
    forms |= {raw.hex(), raw.hex().upper()}
    for pad in (b"", b"x", b"xy"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(pad + raw).decode()
            # The characters that depend on the secret alone, whatever surrounds it.
            start = (len(pad) * 4 + 2) // 3 + 1
            stable = text[start : (len(pad + raw) * 4) // 3 - 2]
            if len(stable) >= 8:
                forms.add(stable)
    return forms


class Transcript:
    """Everything the service sent us."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def http(self, response: httpx.Response) -> httpx.Response:
        self.parts.append(response.text)
        self.parts.append(str(dict(response.headers)))
        return response

    def ws(self, message: Any) -> None:
        self.parts.append(str(message))


async def exercise(
    client: httpx.AsyncClient, ws_url: str, tokens: dict[str, str], seen: Transcript
) -> None:
    """Reads and writes with good, wrong and missing tokens; bad input; abusive queries."""
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    for headers in (admin, {"Authorization": "Bearer wrong"}, {}):
        for path in ("/operators", "/snapshot", "/sync/status", "/queues/sales"):
            seen.http(await client.get(f"{BASE}{path}", headers=headers))
        seen.http(
            await client.post(
                f"{BASE}/operators",
                json={"memberId": "PJSIP/1001", "status": "idle"},
                headers=headers,
            )
        )
        seen.http(await client.post(f"{BASE}/sync/resync", headers=headers))
        seen.http(await client.post(f"{BASE}/operators", content=b"{nope", headers=headers))
        seen.http(await client.get("/healthz", headers=headers))
    seen.http(await client.get("/metrics"))
    for method, path, options in cases().values():
        seen.http(await client.request(method, path, headers=admin, **options))
    for protocol in PROTOCOLS:
        for payload in ({"authorization": f"Bearer {tokens['viewer']}"}, {"authorization": "x"}):
            try:
                sock = await GqlSocket.open(ws_url, protocol, init=False)
                seen.ws(await sock.init(payload))
                await sock.subscribe("1", "subscription { operatorUpdated { kind } }")
                seen.ws(await sock.recv(timeout=5))
                await sock.subscribe("2", "mutation { clear { operators } }")
                seen.ws(await sock.recv(timeout=5))
                await sock.close()
            except Exception as exc:  # a refusal closes the socket: that is fine here
                seen.ws(repr(exc))


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_no_secret_ever_shows(own_pg: PostgresCluster) -> None:
    tokens = {role: canary(f"tok{role}") for role in ("viewer", "supervisor", "admin")}
    ami_secret = canary("ami")
    redis_password = canary("redis")
    db_password = canary("db")
    all_secrets = {"ami": ami_secret, "redis": redis_password, "db": db_password, **tokens}

    redis = RedisServer(password=redis_password)
    await redis.start()
    await own_pg.execute("CREATE DATABASE lab")
    await lab_database(own_pg.url("lab"))
    seen = Transcript()
    async with simulator(rate=200, secret=ami_secret) as sim:
        ami_proxy = ChaosProxy("127.0.0.1", sim.port)
        redis_proxy = ChaosProxy("127.0.0.1", redis.port)
        await ami_proxy.start()
        await redis_proxy.start()
        service = ServiceProcess(
            {
                "REDIS_URL": f"redis://:{redis_password}@127.0.0.1:{redis_proxy.port}/0",
                "DATABASE_URL": own_pg.url("lab", password=db_password),
                "AMI_ENABLED": "true",
                "AMI_HOST": "127.0.0.1",
                "AMI_PORT": str(ami_proxy.port),
                "AMI_USERNAME": "admin",
                "AMI_SECRET": ami_secret,
                "AMI_PING_INTERVAL": "0.5",
                "API_TOKENS": ",".join(f"{role}:{token}" for role, token in tokens.items()),
                "LOG_LEVEL": "DEBUG",
            },
            harness=False,
        )
        steps: list[str] = []
        try:
            await service.start()
            async with httpx.AsyncClient(base_url=service.url, timeout=20) as client:

                async def step(name: str) -> None:
                    steps.append(name)
                    await asyncio.sleep(0.5)
                    await exercise(client, service.ws_url, tokens, seen)

                await step("normal")
                ami_proxy.cut_after(5000)
                await step("AMI reset")
                ami_proxy.blackhole()
                await asyncio.sleep(2)
                ami_proxy.restore()
                await step("AMI blackhole")
                sim.secret = canary("other")
                sim.drop_connections()
                await asyncio.sleep(1.5)
                await step("AMI login refused")
                sim.secret = ami_secret
                sim.drop_connections()
                redis_proxy.reset()
                await step("Redis link reset")
                redis.freeze()
                await asyncio.sleep(3.5)
                redis.thaw()
                await step("Redis frozen")
                redis.kill()
                await step("Redis down")
                await redis.start()
                await asyncio.sleep(2)
                await step("Redis restarted empty")
                await own_pg.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = 'lab' AND pid <> pg_backend_pid()"
                )
                await step("PostgreSQL connections terminated")
                await own_pg.stop("fast")
                await step("PostgreSQL down")
                await own_pg.start()
                await step("PostgreSQL restarted")
        finally:
            code = await service.stop()
            steps.append(f"SIGTERM (exit {code})")
            output = service.output()
            await service.close()
            await ami_proxy.stop()
            await redis_proxy.stop()
            redis.close()

    answers = "\n".join(seen.parts)
    leaks = []
    for name, secret in all_secrets.items():
        for form in encodings(secret):
            for where, text in (("output", output), ("answers", answers)):
                if form in text:
                    leaks.append(f"{name} as {form!r} in {where}")
    assert not leaks, leaks
    assert "DEBUG" in output, "the service did not log at DEBUG"
    assert "AMI login refused" in output and "Redis" in output
    record(
        "15",
        "secrets canary: AMI secret, Redis password, DB password, 3 API tokens; "
        "LOG_LEVEL=DEBUG through " + ", ".join(steps),
        "no secret in any output or answer, raw or encoded",
        secrets=len(all_secrets),
        formsSearched=sum(len(encodings(s)) for s in all_secrets.values()),
        outputBytes=len(output),
        logLines=output.count("\n"),
        answersBytes=len(answers),
        leaks=0,
    )
