"""Item 21: what a stranger could still learn or reach — introspection, /metrics, the
database's name, HEAD.

- With a `viewer` token configured, GraphQL introspection (`__schema`,
  `__type`) and `__typename` need read access like every query, over POST
  and GET.
- METRICS_TOKEN: /metrics answers only `Authorization: Bearer <it>` (an API
  token does not open it).
- The database URL (user, host, port, database name) never shows in an
  answer: 503 bodies, /sync/status, GraphQL errors and /healthz say
  "database unavailable"; the details go to the log. The KPI, call and alert
  rule routes say the database is unavailable, naming none of it either.
- HEAD on every GET route answers like GET (status, type, length) without a
  body, instead of 405.
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
from redis.asyncio import Redis

from tests.reliability.conftest import AppFactory
from tests.reliability.env import record
from tests.reliability.procs import free_port

BASE = "/api/queue-status"
VIEWER = f"viewer-{secrets.token_hex(12)}"
ADMIN = f"admin-{secrets.token_hex(12)}"
METRICS = f"metrics-{secrets.token_hex(12)}"
INTROSPECTION = [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Operator") { fields { name } } }',
    "{ __typename }",
]


def codes(body: dict[str, object]) -> list[str]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


async def introspection_follows_the_read_rule(app_factory: AppFactory, db: str) -> int:
    tries = 0
    async with app_factory(database_url=db, api_tokens=f"viewer:{VIEWER},admin:{ADMIN}") as app:

        async def send(method: str, query: str, headers: dict[str, str]) -> dict[str, object]:
            if method == "POST":
                answer = await app.http.post("/graphql", json={"query": query}, headers=headers)
            else:
                answer = await app.http.get("/graphql", params={"query": query}, headers=headers)
            body: dict[str, object] = answer.json()
            return body

        for query in INTROSPECTION:
            for method in ("POST", "GET"):
                tries += 1
                refused = await send(method, query, {})
                assert codes(refused) == ["UNAUTHENTICATED"], (query, refused)
                assert refused.get("data") is None, refused
                wrong = await send(method, query, {"Authorization": "Bearer nope"})
                assert codes(wrong) == ["UNAUTHENTICATED"], (query, wrong)
                allowed = await send(method, query, {"Authorization": f"Bearer {VIEWER}"})
                assert "errors" not in allowed and allowed["data"], (query, allowed)
    # Without a viewer token, reads — introspection with them — stay open.
    async with app_factory(database_url=db, api_tokens=f"admin:{ADMIN}") as app:
        open_answer = await app.http.post("/graphql", json={"query": INTROSPECTION[0]})
        assert open_answer.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    return tries


async def metrics_need_their_token(app_factory: AppFactory, db: str) -> None:
    async with app_factory(
        database_url=db, metrics_token=METRICS, api_tokens=f"admin:{ADMIN}"
    ) as app:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {ADMIN}"}):
            refused = await app.http.get("/metrics", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert refused.headers["WWW-Authenticate"] == "Bearer"
            assert METRICS not in refused.text
        allowed = await app.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"})
        assert allowed.status_code == 200 and "queue_status_" in allowed.text
    async with app_factory(database_url=db) as app:
        assert (await app.http.get("/metrics")).status_code == 200  # no METRICS_TOKEN: open


async def database_stays_unnamed(app_factory: AppFactory) -> int:
    port = free_port()
    user, name = f"canaryuser{secrets.token_hex(4)}", f"canarydb{secrets.token_hex(4)}"
    url = f"postgresql://{user}:pw{secrets.token_hex(4)}@127.0.0.1:{port}/{name}"
    answers: list[httpx.Response] = []
    async with app_factory(database_url=url) as app:
        status = await app.http.get(f"{BASE}/sync/status")
        answers.append(status)
        assert status.json()["data"]["databaseError"] == "database unavailable"
        assert status.json()["data"]["lastSyncError"] in ("database unavailable", None)
        resync = await app.http.post(f"{BASE}/sync/resync")
        answers.append(resync)
        assert resync.status_code == 503
        assert resync.json() == {"success": False, "error": "database unavailable"}
        # The records' and alerts' routes: 503 "...database is unavailable", unnamed.
        for path in ("stats/queues", "stats/agents", "calls", "alerts/rules"):
            answer = await app.http.get(f"{BASE}/{path}")
            answers.append(answer)
            assert answer.status_code == 503, (path, answer.text)
            assert "database" in answer.json()["error"], (path, answer.text)
        created = await app.http.post(
            f"{BASE}/alerts/rules", json={"name": "W", "kind": "longest_wait", "threshold": 1}
        )
        assert created.status_code == 503, created.text
        answers.append(created)
        async with asyncio.timeout(10):  # the alert engine has tried to read its rules
            while True:
                health = await app.http.get("/healthz")
                alerts = health.json()["data"]["alerts"]
                if alerts["rulesDatabaseUp"] is False:
                    break
                await asyncio.sleep(0.05)
        assert "database is unavailable" in alerts["lastError"], alerts
        answers.append(health)
        for query in (
            "{ syncStatus { databaseError lastSyncError } }",
            "mutation { resync { changes } }",
        ):
            answer = await app.http.post("/graphql", json={"query": query})
            answers.append(answer)
            assert "database unavailable" in answer.text
        status = await app.http.get(f"{BASE}/sync/status")  # after a failed resync
        assert status.json()["data"]["lastSyncError"] == "database unavailable"
        answers.append(status)
    for answer in answers:
        for part in (user, name, str(port), "postgresql", "asyncpg"):
            assert part not in answer.text, (part, answer.request.url, answer.text)
    return len(answers)


HEAD_PATHS = [
    "/healthz",
    "/metrics",
    "/",
    "/graphql",
    "/openapi.json",
    f"{BASE}/operators",
    f"{BASE}/operators?queue=sales",
    f"{BASE}/operators/PJSIP%2F1001",
    f"{BASE}/operators/nobody",
    f"{BASE}/snapshot",
    f"{BASE}/queues",
    f"{BASE}/queues/sales",
    f"{BASE}/channels",
    f"{BASE}/sync/status",
    f"{BASE}/stats/queues",
    f"{BASE}/stats/agents?interval=900",
    f"{BASE}/calls?outcome=abandoned",
    f"{BASE}/alerts/rules",
    f"{BASE}/alerts",
]
# Answers that change between two calls (timings, counters): their length may differ.
VARYING = {"/healthz", "/metrics", f"{BASE}/sync/status"}


async def head_answers_like_get(app_factory: AppFactory, db: str) -> int:
    async with app_factory(database_url=db) as app:
        seeded = await app.http.post(
            f"{BASE}/operators", json={"memberId": "PJSIP/1001", "status": "idle"}
        )
        assert seeded.status_code == 201
        for path in HEAD_PATHS:
            got = await app.http.get(path)
            head = await app.http.head(path)
            assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
            assert head.content == b"", path
            assert head.headers.get("content-type") == got.headers.get("content-type"), path
            if path not in VARYING:
                assert head.headers.get("content-length") == got.headers.get("content-length")
        # HEAD is a read: the write routes still refuse it.
        assert (await app.http.head(f"{BASE}/clear")).status_code == 405
    return len(HEAD_PATHS)


async def test_introspection_follows_the_read_rule(app_factory: AppFactory, lab_db: str) -> None:
    attempts = await introspection_follows_the_read_rule(app_factory, lab_db)
    record(
        "21a",
        "GraphQL introspection (__schema, __type) and __typename without a token, over POST "
        "and GET, a viewer token configured",
        "UNAUTHENTICATED like any query; answered with the viewer token; open while reads are",
        attempts=attempts * 2,
        answeredWithoutToken=0,
    )


async def test_metrics_need_their_own_token(app_factory: AppFactory, lab_db: str) -> None:
    await metrics_need_their_token(app_factory, lab_db)
    record(
        "21b",
        "/metrics with METRICS_TOKEN set: no token, a wrong one, an admin API token",
        "401 with WWW-Authenticate: Bearer; 200 with Bearer <METRICS_TOKEN>; open when unset",
        refused=3,
    )


async def test_the_database_is_never_named(app_factory: AppFactory, redis_client: Redis) -> None:
    answers = await database_stays_unnamed(app_factory)
    record(
        "21c",
        "PostgreSQL unreachable: /sync/status, POST /sync/resync, GraphQL syncStatus and "
        "resync, /healthz",
        "503 / errors say 'database unavailable'; no user, host, port, database name or "
        "driver in any answer (details in the log)",
        answers=answers,
        databaseNamed=0,
    )


async def test_head_answers_like_get(app_factory: AppFactory, lab_db: str) -> None:
    paths = await head_answers_like_get(app_factory, lab_db)
    record(
        "21d",
        "HEAD on every GET route (REST, /graphql, /healthz, /metrics, /, /openapi.json)",
        "same status, Content-Type and Content-Length as GET, no body (was 405)",
        paths=paths,
    )
