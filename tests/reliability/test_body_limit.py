"""Item 17: a 150 MB body is refused before it costs memory.

With viewer, supervisor and admin tokens configured, bodies far above
MAX_BODY_BYTES (64 KiB) are POSTed to the runbook's `/operators` and to
`/graphql`, announced in `Content-Length` or chunked, with no token and with
a token that may do the operation. The body keeps coming while the answer is
awaited, as an attacker would send it. Each must be refused at once — 413
from the announced length, 401 / UNAUTHENTICATED from the headers alone
(credentials are checked before the body is read), 413 once a chunked body
passes the cap — and the server's memory must not follow the body.

The full item runs the real `queue-status serve` as a subprocess with 150 MB
bodies (413 within 100 ms, RSS growth < 10 MB); the quick one, in `make
test`, serves the app in the test's process with 8 MiB bodies.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.conftest import REDIS_URL
from tests.reliability.conftest import AppFactory
from tests.reliability.env import record, timing_goal
from tests.reliability.procs import ServiceProcess
from tests.reliability.rawhttp import Answer, post_streaming

TOKENS = {role: f"{role}-{uuid.uuid4().hex}" for role in ("viewer", "supervisor", "admin")}
API_TOKENS = ",".join(f"{role}:{token}" for role, token in TOKENS.items())
CAP = 64 * 1024


@dataclass(frozen=True)
class Case:
    """One attack: where, how the body is framed, which token, and the expected refusal."""

    name: str
    path: str
    chunked: bool
    role: str | None
    status: int
    code: str | None = None  # a GraphQL refusal's extensions.code

    def headers(self) -> dict[str, str]:
        return {} if self.role is None else {"Authorization": f"Bearer {TOKENS[self.role]}"}


CASES = [
    Case("REST, Content-Length, no token", "/api/queue-status/operators", False, None, 413),
    Case("REST, chunked, no token", "/api/queue-status/operators", True, None, 401),
    Case("REST, chunked, supervisor", "/api/queue-status/operators", True, "supervisor", 413),
    Case("GraphQL, Content-Length, no token", "/graphql", False, None, 413),
    Case("GraphQL, chunked, no token", "/graphql", True, None, 200, "UNAUTHENTICATED"),
    Case("GraphQL, chunked, viewer", "/graphql", True, "viewer", 413),
]


def check(case: Case, answer: Answer, *, closed: bool = True) -> None:
    """The refusal `case` expects; `closed`: the server drops the rest of the body."""
    assert answer.status == case.status, (case.name, answer.status, answer.body[:300])
    body = answer.json()
    assert isinstance(body, dict)
    if case.code is None:
        assert body["success"] is False, body
    else:
        assert [e["extensions"]["code"] for e in body["errors"]] == [case.code], body
    if closed:
        assert answer.headers.get("connection") == "close", (case.name, answer.headers)


Send = Callable[[Case, int], Awaitable[Answer]]


async def attack(send: Send, total: int) -> dict[str, Answer]:
    answers = {}
    for case in CASES:
        answer = await send(case, total)
        check(case, answer)
        answers[case.name] = answer
    return answers


async def test_big_bodies_are_refused_before_they_are_read(
    app_factory: AppFactory, empty_db: str
) -> None:
    async with app_factory(database_url=empty_db, api_tokens=API_TOKENS) as running:
        parts = urlsplit(running.url)
        assert parts.hostname is not None and parts.port is not None

        async def send(case: Case, total: int) -> Answer:
            return await post_streaming(
                parts.hostname or "",
                parts.port or 0,
                case.path,
                total=total,
                chunked=case.chunked,
                headers=case.headers(),
            )

        answers = await attack(send, 8 * 1024 * 1024)
        # At the cap: accepted (and judged on its content); one byte more: 413.
        supervisor = {
            "Authorization": f"Bearer {TOKENS['supervisor']}",
            "Content-Type": "application/json",
        }
        padded = b'{"memberId": "PJSIP/1", "status": "idle"}'.ljust(CAP, b" ")
        at_cap = await running.http.post(
            "/api/queue-status/operators", content=padded, headers=supervisor
        )
        assert at_cap.status_code == 201, at_cap.text
        over = await running.http.post(
            "/api/queue-status/operators", content=padded + b" ", headers=supervisor
        )
        assert over.status_code == 413
        assert over.json() == {"success": False, "error": f"request body larger than {CAP} bytes"}
        # Still serving.
        viewer = {"Authorization": f"Bearer {TOKENS['viewer']}"}
        assert (await running.http.get("/api/queue-status/operators", headers=viewer)).is_success
    for name, answer in answers.items():
        timing_goal(answer.seconds < 0.1, f"{name}: answered in {answer.seconds * 1000:.0f} ms")


async def test_a_body_without_credentials_is_never_parsed(
    app_factory: AppFactory, empty_db: str
) -> None:
    """Not JSON at all, and no token: refused for the token (not for the body), the body
    dropped so the connection stays usable; with `Expect: 100-continue` the answer comes
    before a byte of the body is sent."""
    async with app_factory(database_url=empty_db, api_tokens=API_TOKENS) as running:
        garbage = b"\x00not json" * 6000
        for _ in range(3):  # the same keep-alive connection each time
            rest = await running.http.post("/api/queue-status/operators", content=garbage)
            assert rest.status_code == 401, rest.text
            assert rest.headers.get("connection") != "close"
            gql = await running.http.post("/graphql", content=garbage)
            assert gql.status_code == 200, gql.text
            assert gql.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        parts = urlsplit(running.url)
        for path, status in (("/api/queue-status/operators", 401), ("/graphql", 200)):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {CAP}\r\nExpect: 100-continue\r\n\r\n".encode()
            )
            await writer.drain()
            async with asyncio.timeout(5):
                status_line = await reader.readline()
            writer.close()
            assert int(status_line.split()[1]) == status, (path, status_line)


async def test_a_body_a_little_too_big_gets_its_413_on_a_live_connection(
    app_factory: AppFactory, empty_db: str
) -> None:
    """Up to DRAIN_LIMIT the refused body is read and dropped: the client that is still
    sending it reads its 413 (closing at once could reset it first)."""
    async with app_factory(database_url=empty_db) as running:
        body = {"query": "{ " + "queues { name } " * (2**20 // 16) + "}"}  # 1 MiB
        for _ in range(3):
            answer = await running.http.post("/graphql", json=body)
            assert answer.status_code == 413, answer.text
            assert answer.headers.get("connection") != "close"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_150_mb_against_the_real_service(empty_db: str, key_prefix: str) -> None:
    service = ServiceProcess(
        {
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": key_prefix,
            "DATABASE_URL": empty_db,
            "AMI_ENABLED": "false",
            "API_TOKENS": API_TOKENS,
            "LOG_LEVEL": "WARNING",
        },
        harness=False,
    )
    total = 150 * 1000 * 1000
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, service.rss_kib())
            await asyncio.sleep(0.005)

    try:
        await service.start()

        async def send(case: Case, total: int) -> Answer:
            return await post_streaming(
                "127.0.0.1",
                service.port,
                case.path,
                total=total,
                chunked=case.chunked,
                headers=case.headers(),
            )

        # Warm-up: the first request of each kind pays for imports and caches.
        for case in CASES:
            check(case, await send(case, CAP * 4), closed=False)
        await asyncio.sleep(0.2)
        before = service.rss_kib()
        sampler = asyncio.create_task(sample())
        try:
            answers = await attack(send, total)
            await asyncio.sleep(0.2)
        finally:
            sampler.cancel()
        after = service.rss_kib()
    finally:
        await service.close()
    growth = max(after, peak) - before
    worst = max(answer.seconds for answer in answers.values())
    for name, answer in answers.items():
        timing_goal(answer.seconds < 0.1, f"{name}: answered in {answer.seconds * 1000:.0f} ms")
    assert growth < 10 * 1024, f"RSS grew {growth} KiB (before {before}, peak {peak})"
    record(
        "17",
        "150 MB bodies to /operators and /graphql, Content-Length and chunked, without and "
        "with a token, streamed while the answer is awaited (real queue-status serve)",
        "413 from Content-Length, 401/UNAUTHENTICATED before the body, 413 at the 64 KiB cap "
        "when chunked; the rest dropped unread (connection closed); memory flat",
        **{f"{name} ms": round(answer.seconds * 1000, 1) for name, answer in answers.items()},
        worstMs=round(worst * 1000, 1),
        clientMiBWrittenWorst=round(max(a.sent for a in answers.values()) / 2**20, 1),
        rssBeforeKib=before,
        rssPeakGrowthKib=growth,
    )
