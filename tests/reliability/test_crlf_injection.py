"""Item 10: CR/LF in any user value that could reach an AMI action.

The app runs with its AMI ingest behind a `ChaosProxy` that records every byte
the service writes to Asterisk. Every string field of the runbook's POST and
of setOperatorStatus (over HTTP and over both WebSocket protocols) is sent
with CR, LF, CRLF+"Action: Originate" and NUL in it: each must be refused
at the API (422 / BAD_USER_INPUT) and Redis must not change. A queue named
with CRLF in the database (where the API cannot refuse it) must not break
the reconciliation nor reach the wire. Then a reconciliation runs and the
recorded wire must hold only the service's own actions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.store import StateStore
from tests.reliability.chaos import ChaosProxy
from tests.reliability.conftest import AppFactory, RunningApp, simulator
from tests.reliability.env import record
from tests.reliability.wsclient import PROTOCOLS, GqlSocket, errors_of

BASE = "/api/queue-status"
INJECTED = "\r\nAction: Originate\r\nChannel: Local/666@evil\r\n\r\n"
VALUES = ["a\rb", "a\nb", "a\r\nb", f"x{INJECTED}", "a\x00b", f"{INJECTED}tail"]
FIELDS = ["memberId", "memberName", "queueName", "pausedReason", "currentCallId"]
MUTATION = """
mutation($input: SetOperatorStatusInput!) { setOperatorStatus(input: $input) { memberId } }
"""
# The service's own actions: nothing else may ever be on the wire.
OWN_ACTIONS = {"login", "ping", "queuestatus", "coreshowchannels", "devicestatelist", "logoff"}


def body(field: str, value: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "memberId": "Local/1001@agents/n",
        "memberName": "Alice",
        "queueName": "sales",
        "status": "idle",
        "paused": True,
        "pausedReason": "lunch",
        "currentCallId": "1.1",
    }
    base[field] = value
    return base


def gql_input(field: str, value: str) -> dict[str, Any]:
    data = body(field, value)
    data["status"] = "IDLE"
    return data


def wire_actions(sent: bytes) -> list[dict[str, str]]:
    """The actions the service wrote, as header dicts (the raw text must parse cleanly)."""
    actions = []
    for block in sent.decode("utf-8", "replace").split("\r\n\r\n"):
        if not block.strip():
            continue
        headers: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, colon, value = line.partition(": ")
            assert colon, f"a line that is not a header on the wire: {line!r}"
            headers[key.lower()] = value
        actions.append(headers)
    return actions


async def refused_everywhere(running: RunningApp, store: StateStore) -> int:
    """Send every poisoned value every way; all refused, nothing written. How many tries."""
    before = await store.version()
    tries = 0
    sockets = [await GqlSocket.open(running.ws_url, protocol) for protocol in PROTOCOLS]
    try:
        for field in FIELDS:
            for value in VALUES:
                tries += 1
                response = await running.http.post(f"{BASE}/operators", json=body(field, value))
                assert response.status_code == 422, (field, value, response.text)
                answer = (
                    await running.http.post(
                        "/graphql",
                        json={"query": MUTATION, "variables": {"input": gql_input(field, value)}},
                    )
                ).json()
                codes = {e["extensions"]["code"] for e in answer["errors"]}
                assert codes == {"BAD_USER_INPUT"}, (field, value, answer)
                for n, sock in enumerate(sockets):
                    tries += 1
                    op = f"{field}-{VALUES.index(value)}-{n}"
                    await sock.subscribe(op, MUTATION, {"input": gql_input(field, value)})
                    result = await sock.result(op)
                    errors = errors_of(result)
                    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], result
                tries += 2
    finally:
        for sock in sockets:
            await sock.close()
    assert await store.version() == before, "a refused write changed Redis"
    return tries


async def test_crlf_is_refused_and_never_reaches_the_ami_wire(
    app_factory: AppFactory, lab_db: str, store: StateStore
) -> None:
    async with simulator(rate=None, realtime=False) as sim:  # quiet: only our writes
        proxy = ChaosProxy("127.0.0.1", sim.port)
        await proxy.start()
        try:
            async with app_factory(
                database_url=lab_db, ami_enabled=True, ami_port=proxy.port
            ) as running:
                ingest = running.runtime.ingest
                assert ingest is not None
                async with asyncio.timeout(20):
                    while ingest.status.reconciliations < 1:
                        await asyncio.sleep(0.02)
                tries = await refused_everywhere(running, store)

                # A queue named with CRLF in the database: the API cannot refuse it.
                connection = await asyncpg.connect(lab_db)
                try:
                    await connection.execute(
                        "INSERT INTO queues (name, strategy) VALUES ($1, 'ringall')",
                        f"evil{INJECTED}",
                    )
                finally:
                    await connection.close()
                assert (await running.http.post(f"{BASE}/sync/resync")).status_code == 200
                done = ingest.status.reconciliations
                ingest.request_reconcile("test: after the poisoned values")
                async with asyncio.timeout(20):
                    while ingest.status.reconciliations <= done:
                        await asyncio.sleep(0.02)
        finally:
            await proxy.stop()
    actions = wire_actions(bytes(proxy.sent))
    names = {a.get("action", "").lower() for a in actions}
    assert names <= OWN_ACTIONS, names
    assert b"Originate" not in proxy.sent and b"evil" not in proxy.sent
    record(
        "10",
        "CR, LF, CRLF+'Action: Originate', NUL in every string field: REST, GraphQL HTTP, "
        "both WS protocols; a CRLF queue name in the database",
        "all refused (422 / BAD_USER_INPUT), Redis unchanged, only own actions on the wire, "
        "reconciliation still runs",
        attempts=tries,
        actionsOnWire=len(actions),
        injected=0,
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(FIELDS),
    head=st.text(max_size=20),
    breaker=st.sampled_from(["\r", "\n", "\r\n", "\x00"]),
    tail=st.text(max_size=20),
)
def test_any_value_with_a_line_break_is_refused(
    field: str, head: str, breaker: str, tail: str
) -> None:
    from api.commands import OperatorStatusBody

    try:
        OperatorStatusBody.model_validate(body(field, head + breaker + tail))
    except ValueError:
        return
    # Accepted only if the break was stripped away at the edges (nothing left inside).
    stripped = (head + breaker + tail).strip()
    assert not any(c in stripped for c in "\r\n\x00"), json.dumps(stripped)
