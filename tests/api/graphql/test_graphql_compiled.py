"""Compiled queries answer byte for byte as the executor does.

Every query of the suites — the benchmark's, every query string of
tests/api/graphql, and a set written to reach each corner (aliases, fragments,
repeats, `__typename`, variables, arguments, lookups it must leave to the
executor, stored data a converter would choke on) — runs through a schema
with compiled queries and through one without, on the same data at the same
frozen clock; the JSON answers (data and errors) must be the same bytes.
Queries the compiler should take must be answered by it, not by a fallback.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from graphql import OperationType, get_operation_ast, parse
from redis.asyncio import Redis

import api.service
from api.auth import AccessPolicy
from api.graphql.compiled import CompiledQueries, PlanCache
from api.graphql.context import GraphQLContext
from api.graphql.limits import GraphQLOptions
from api.graphql.schema import QueueStatusSchema, build_schema
from api.live import LiveState
from api.service import QueueStatusService
from bench.http import GRAPHQL_6, GRAPHQL_ALL
from bench.subscriptions import WALLBOARD_SNAPSHOT
from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.store import StateStore
from tests.api.graphql.test_graphql_http import (
    CHANNEL_FIELDS,
    OPERATOR_FIELDS,
    QUEUE_FIELDS,
)
from tests.api.live_server import LiveServer, seed

NOW = 1_703_337_700_000
HERE = Path(__file__).parent

# Values for the variables of the test suites' queries, by name.
VARIABLES = {
    "id": "PJSIP/1001",
    "memberId": "PJSIP/1001",
    "queue": "sales",
    "name": "sales",
    "status": "IDLE",
    "paused": True,
}

WRITTEN: list[tuple[str, dict[str, Any] | None, bool]] = [
    # (query, variables, compiled?)
    (GRAPHQL_6, None, True),
    (GRAPHQL_ALL, None, True),
    (WALLBOARD_SNAPSHOT, None, True),
    (f"{{ operators {{ {OPERATOR_FIELDS} }} }}", None, True),
    (f"{{ queues {{ {QUEUE_FIELDS} }} }}", None, True),
    (f"{{ channels {{ {CHANNEL_FIELDS} }} }}", None, True),
    (
        f"{{ snapshot {{ version generatedAt operators {{ {OPERATOR_FIELDS} }} "
        f"queues {{ {QUEUE_FIELDS} }} channels {{ {CHANNEL_FIELDS} }} }} }}",
        None,
        True,
    ),
    (
        '{ operator(memberId: "PJSIP/1002") { memberId status queues { queueName paused } } }',
        None,
        True,
    ),
    ('{ operator(memberId: "PJSIP/none") { memberId } }', None, True),
    ('{ queue(name: "sales") { name members { total inCall } callers { uniqueId } } }', None, True),
    ('{ queue(name: "nowhere") { name } }', None, True),
    ('{ operators(queue: "sales") { memberId } }', None, True),
    ("{ operators(status: IN_CALL) { memberId status } }", None, True),
    ("{ operators(paused: true) { memberId paused pausedReason } }", None, True),
    ('{ channels(queue: "sales") { name state } }', None, True),
    (
        "query($q: String, $s: OperatorStatus = IDLE, $p: Boolean) "
        "{ operators(queue: $q, status: $s, paused: $p) { memberId } }",
        {"q": "sales"},
        True,
    ),
    ("query($s: OperatorStatus!) { operators(status: $s) { memberId } }", {"s": "NOPE"}, True),
    (
        "{ a: operators { id: memberId who: memberName __typename } b: snapshot { version } "
        "__typename c: queues { n: name __typename } }",
        None,
        True,
    ),
    (
        "{ operators { memberId queues { queueName } queues { paused queueName } status memberId } }",
        None,
        True,
    ),
    (
        "query Q { operators { ...Who ... on Operator { status } ... { paused } } } "
        "fragment Who on Operator { memberId memberName ...More } "
        "fragment More on Operator { queues { ...Membership } } "
        "fragment Membership on QueueMembership { queueName membership wrapupUntil }",
        None,
        True,
    ),
    (
        "query A { operators { memberId } } query B { channels { name } }",
        None,
        True,
    ),
    # Left to the executor: nested lookups, directives, introspection, other roots.
    ('{ operator(memberId: "PJSIP/1001") { channel { name state } } }', None, False),
    ("{ queues { name operators(status: IN_CALL) { memberId } channels { name } } }", None, False),
    ("{ channels { name operator { memberId } } }", None, False),
    ("query($skip: Boolean!) { operators { memberId @skip(if: $skip) } }", {"skip": True}, False),
    ("{ __schema { queryType { name } } }", None, False),
    ("{ syncStatus { redisOperators } }", None, False),
]


def _suite_queries() -> list[tuple[str, dict[str, Any] | None]]:
    """Every string (plain or f-string over module constants) of tests/api/graphql that is a
    GraphQL query operation, with variables for the ones it declares."""
    found: dict[str, dict[str, Any] | None] = {}
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.api.graphql.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Constant | ast.JoinedStr):
                continue
            try:
                text = eval(compile(ast.Expression(node), str(path), "eval"), vars(module))
                document = parse(text) if isinstance(text, str) else None
            except Exception:
                continue
            if document is None:
                continue
            operation = get_operation_ast(document)
            if operation is None or operation.operation is not OperationType.QUERY:
                continue
            names = [d.variable.name.value for d in operation.variable_definitions or ()]
            if all(name in VARIABLES for name in names):
                found[text] = {name: VARIABLES[name] for name in names} or None
    return list(found.items())


async def _weird(store: StateStore) -> None:
    """Stored data at the converters' edges."""
    await store.apply(
        [
            Patch(
                "operator",
                "SIP/odd-1",
                {
                    "status": "dancing",
                    "memberName": "",
                    "queues": {
                        "sales": {"penalty": "7", "callsTaken": 2.9, "membership": "guest"},
                        "zzz": {"lastCall": "1700000000", "wrapupTime": -3, "inCall": 0},
                    },
                    "currentCallId": 12345,
                    "statusSince": "soon",
                },
            ),
            Patch("channel", "SIP/odd-2", {"state": "levitating", "createdAt": "1.5e3"}),
            Patch(
                "queue",
                "odd",
                {"serviceLevelPerf": "87.25", "holdTime": 3.7, "weight": True, "strategy": 5},
            ),
        ]
    )


async def _int_overflow(store: StateStore) -> None:
    await store.apply([Patch("operator", "SIP/big", {"queues": {"sales": {"callsTaken": 2**40}}})])


async def _not_an_object(redis: Redis, keys: KeySchema) -> None:
    # A hand edit: queues that is not an object (Operator.from_json fails on it).
    await redis.set(
        keys.operator("SIP/hand"), orjson.dumps({"memberId": "SIP/hand", "queues": "x"})
    )
    await redis.sadd(keys.index("operator"), "SIP/hand")


def _context(store: StateStore, mirror: LiveState | None = None) -> GraphQLContext:
    return GraphQLContext(
        service=QueueStatusService(store, sync=None),  # type: ignore[arg-type]  # reads only
        policy=AccessPolicy((), host_is_loopback=True),
        mirror=mirror,
    )


async def _mirror(store: StateStore) -> LiveState:
    """A live mirror loaded from `store`: current."""
    live = LiveState(store)
    await live.reload("test")
    return live


def _compiled_plans(schema: QueueStatusSchema) -> PlanCache:
    extension = schema.get_extensions()[-1]
    assert isinstance(extension, CompiledQueries)
    return extension._cache


async def _both(
    store: StateStore,
    query: str,
    variables: dict[str, Any] | None,
    mirror: LiveState | None = None,
) -> tuple[bytes, bytes, bool]:
    """(compiled, plain executor on Redis, whether the compiled plan answered); the
    compiled one reads the live mirror when one is given."""
    compiled, plain = SCHEMAS
    cache = _compiled_plans(compiled)
    answered = cache.answered
    results = []
    for schema, context in ((compiled, _context(store, mirror)), (plain, _context(store))):
        result = await schema.execute(query, variables, context_value=context)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        results.append(orjson.dumps(body))
    return results[0], results[1], cache.answered > answered


SCHEMAS = (build_schema(), build_schema(GraphQLOptions(compiled=False)))


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queue views (wait times) and snapshots (generatedAt) read the clock."""
    monkeypatch.setattr(api.service, "now_ms", lambda: NOW)


@pytest.mark.parametrize(("query", "variables", "compiles"), WRITTEN)
async def test_written_queries_answer_alike(
    store: StateStore, query: str, variables: dict[str, Any] | None, compiles: bool
) -> None:
    await seed(store)
    await _weird(store)
    fast, slow, answered = await _both(store, query, variables)
    assert fast == slow
    expected = compiles and b'"errors"' not in slow
    assert answered is expected


@pytest.mark.parametrize(("query", "variables", "compiles"), WRITTEN)
async def test_queries_over_the_live_mirror_answer_as_over_redis(
    store: StateStore, query: str, variables: dict[str, Any] | None, compiles: bool
) -> None:
    await seed(store)
    await _weird(store)
    fast, slow, _ = await _both(store, query, variables, await _mirror(store))
    assert fast == slow


async def test_a_mirror_behind_the_store_is_not_read(store: StateStore) -> None:
    await seed(store)
    mirror = await _mirror(store)
    await store.apply([Patch("operator", "PJSIP/1001", {"status": "ringing"})])
    fast, slow, _ = await _both(store, "{ operators { memberId status } }", None, mirror)
    assert fast == slow and b"RINGING" in fast


@pytest.mark.parametrize(("query", "variables"), _suite_queries())
async def test_every_query_of_the_graphql_tests_answers_alike(
    store: StateStore, query: str, variables: dict[str, Any] | None
) -> None:
    await seed(store)
    fast, slow, _ = await _both(store, query, variables)
    assert fast == slow


@pytest.mark.parametrize("query", [GRAPHQL_ALL, WALLBOARD_SNAPSHOT])
async def test_data_the_executor_reports_errors_for_is_left_to_it(
    store: StateStore, redis_client: Redis, keys: KeySchema, query: str
) -> None:
    await seed(store)
    await _int_overflow(store)
    await _not_an_object(redis_client, keys)
    fast, slow, answered = await _both(store, query, None)
    assert fast == slow and b'"errors"' in slow
    assert not answered


async def test_the_app_answers_http_queries_from_the_compiled_plan(server: LiveServer) -> None:
    await seed(server.store)
    body = orjson.dumps({"query": GRAPHQL_ALL})
    response = await server.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    plain = await SCHEMAS[1].execute(GRAPHQL_ALL, context_value=_context(server.store))
    assert response.status_code == 200
    assert response.content == orjson.dumps({"data": plain.data})
