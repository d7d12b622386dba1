"""Every supervisor action over every way in: REST, GraphQL over HTTP, and GraphQL over
both WebSocket protocols. Each checks the AMI action that went out, the state that came
back (read after Asterisk's event: read-your-writes) and the audit row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.api.console.conftest import ALICE, BASE, BOB, Lab, quoted, ws_session

NEW = "Local/1006@agents/n"
RESULT = "pending via operator { memberId queues { queueName paused pausedReason penalty } }"
MUTATIONS = {
    "pauseOperator": "PauseOperatorInput",
    "unpauseOperator": "UnpauseOperatorInput",
    "setMemberPenalty": "SetMemberPenaltyInput",
    "addQueueMember": "AddQueueMemberInput",
    "removeQueueMember": "RemoveQueueMemberInput",
    "listenToOperator": "ListenToOperatorInput",
}


@dataclass(frozen=True)
class Case:
    """One action: how to prepare the centre, its GraphQL input, its REST request."""

    action: str
    graphql_input: dict[str, Any]
    rest: tuple[str, str, dict[str, Any] | None]
    ami: str
    sent: dict[str, str]
    member: str


def _paused_alice(lab: Lab) -> None:
    lab.sim.model.queue_pause(ALICE, True, queue="sales", reason="lunch")
    lab.sim.flush()


def _new_member(lab: Lab) -> None:
    lab.sim.model.queue_add("sales", NEW, name="Frank", state_interface="Custom:1006")
    lab.sim.flush()


CASES = [
    Case(
        "pauseOperator",
        {"memberId": ALICE, "queue": "sales", "reason": "lunch"},
        ("POST", f"/operators/{quoted(ALICE)}/pause", {"queue": "sales", "reason": "lunch"}),
        "QueuePause",
        {"Interface": ALICE, "Queue": "sales", "Paused": "true", "Reason": "lunch"},
        ALICE,
    ),
    Case(
        "unpauseOperator",
        {"memberId": ALICE, "queue": "sales"},
        ("POST", f"/operators/{quoted(ALICE)}/unpause", {"queue": "sales"}),
        "QueuePause",
        {"Interface": ALICE, "Queue": "sales", "Paused": "false"},
        ALICE,
    ),
    Case(
        "setMemberPenalty",
        {"queue": "sales", "interface": BOB, "penalty": 7},
        ("PUT", f"/queues/sales/members/{quoted(BOB)}/penalty", {"penalty": 7}),
        "QueuePenalty",
        {"Interface": BOB, "Queue": "sales", "Penalty": "7"},
        BOB,
    ),
    Case(
        "addQueueMember",
        {"queue": "sales", "interface": NEW, "memberName": "Frank", "penalty": 1},
        ("POST", "/queues/sales/members", {"interface": NEW, "memberName": "Frank", "penalty": 1}),
        "QueueAdd",
        {"Interface": NEW, "Queue": "sales", "MemberName": "Frank", "Penalty": "1"},
        NEW,
    ),
    Case(
        "removeQueueMember",
        {"queue": "sales", "interface": NEW},
        ("DELETE", f"/queues/sales/members/{quoted(NEW)}", None),
        "QueueRemove",
        {"Interface": NEW, "Queue": "sales"},
        NEW,
    ),
]
PREPARE: dict[str, Callable[[Lab], None]] = {
    "unpauseOperator": _paused_alice,
    "removeQueueMember": _new_member,
}
WHO = {"addQueueMember": "admin", "removeQueueMember": "admin"}


EXPECTED: dict[str, dict[str, object]] = {
    "pauseOperator": {"paused": True, "pausedReason": "lunch"},
    "unpauseOperator": {"paused": False},
    "setMemberPenalty": {"penalty": 7},
    "addQueueMember": {"penalty": 1, "paused": False},
}
"""What the returned `sales` membership shows after each action."""


def _check_state(case: Case, result: dict[str, Any]) -> None:
    """The state returned includes the change."""
    assert result["pending"] is False
    operator = result["operator"]
    if case.action == "removeQueueMember":
        assert operator is None
        return
    queues = operator["queues"]
    sales = (
        next(q for q in queues if q["queueName"] == "sales")
        if isinstance(queues, list)
        else queues["sales"]
    )
    expected = EXPECTED[case.action]
    assert {key: sales[key] for key in expected} == expected


async def _rest(lab: Lab, case: Case, who: str) -> dict[str, Any]:
    method, path, body = case.rest
    answer = await lab.app.client.request(method, BASE + path, json=body, headers=lab.auth(who))
    data = answer.json()
    assert answer.status_code == 200, data
    return {"pending": data["pending"], "via": data["via"], **data["data"]}


def _document(case: Case) -> str:
    kind = MUTATIONS[case.action]
    return f"mutation Act($input: {kind}!) {{ {case.action}(input: $input) {{ {RESULT} }} }}"


async def _http(lab: Lab, case: Case, who: str) -> dict[str, Any]:
    answer = await lab.app.client.post(
        "/graphql",
        json={"query": _document(case), "variables": {"input": case.graphql_input}},
        headers=lab.auth(who),
    )
    body = answer.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][case.action]
    return result


def _websocket(protocol: str) -> Callable[[Lab, Case, str], Awaitable[dict[str, Any]]]:
    async def run(lab: Lab, case: Case, who: str) -> dict[str, Any]:
        async with ws_session(lab, protocol, who) as session:
            answer = await session.execute(
                GraphQLRequest(_document(case), variable_values={"input": case.graphql_input})
            )
        result: dict[str, Any] = answer[case.action]
        return result

    return run


TRANSPORTS: dict[str, Callable[[Lab, Case, str], Awaitable[dict[str, Any]]]] = {
    "rest": _rest,
    "graphql-http": _http,
    "graphql-transport-ws": _websocket(WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL),
    "graphql-ws (legacy)": _websocket(WebsocketsTransport.APOLLO_SUBPROTOCOL),
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("case", CASES, ids=[case.action for case in CASES])
async def test_every_action_over_every_transport(lab: Lab, case: Case, transport: str) -> None:
    prepare = PREPARE.get(case.action)
    if prepare is not None:
        prepare(lab)
        await _settled(lab, case)
    who = WHO.get(case.action, "supervisor")
    result = await TRANSPORTS[transport](lab, case, who)
    _check_state(case, result)
    assert str(result["via"]).lower() == "ami"
    (sent,) = lab.proxy.actions(case.ami)
    assert {key: sent.get(key) for key in case.sent} == case.sent
    (row,) = await lab.audit(case.action)
    assert row["outcome"] == "ok"
    assert row["role"] == who
    assert row["memberId"] == case.member


async def _settled(lab: Lab, case: Case) -> None:
    """Wait until the prepared state (made by the simulated Asterisk) is in the store."""
    async with asyncio.timeout(10):
        while True:
            answer = await lab.app.client.get(
                f"{BASE}/operators/{quoted(case.member)}", headers=lab.auth("viewer")
            )
            if answer.status_code == 200:
                sales = answer.json()["data"]["queues"].get("sales") or {}
                if case.action != "unpauseOperator" or sales.get("paused"):
                    return
            await asyncio.sleep(0.05)
