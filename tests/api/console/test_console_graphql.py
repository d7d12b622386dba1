"""Supervisor actions over GraphQL: HTTP and both WebSocket protocols, errors with codes."""

from __future__ import annotations

from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.api.console.conftest import ALICE, BOB, EVE, Lab, ws_session

PAUSE = """
mutation Pause($input: PauseOperatorInput!) {
  pauseOperator(input: $input) {
    action pending via asteriskMessage version
    operator { memberId queues { queueName paused pausedReason } }
  }
}"""
PENALTY = """
mutation Penalty($input: SetMemberPenaltyInput!) {
  setMemberPenalty(input: $input) { pending operator { queues { queueName penalty } } }
}"""
REMOVE = """
mutation Remove($input: RemoveQueueMemberInput!) {
  removeQueueMember(input: $input) { pending }
}"""


async def graphql(lab: Lab, who: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = await lab.app.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=lab.auth(who)
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def test_pause_over_http_returns_the_confirmed_operator(lab: Lab) -> None:
    body = await graphql(
        lab,
        "supervisor",
        PAUSE,
        {"input": {"memberId": ALICE, "queue": "sales", "reason": "lunch"}},
    )
    result = body["data"]["pauseOperator"]
    assert result["pending"] is False
    assert result["via"] == "AMI"
    assert result["action"] == "pauseOperator"
    sales = next(q for q in result["operator"]["queues"] if q["queueName"] == "sales")
    assert sales == {"queueName": "sales", "paused": True, "pausedReason": "lunch"}
    assert result["version"] > 0
    (sent,) = lab.proxy.actions("QueuePause")
    assert sent["Reason"] == "lunch"


async def test_errors_carry_codes_and_asterisks_words(lab: Lab) -> None:
    conflict = await graphql(
        lab, "admin", REMOVE, {"input": {"queue": "sales", "interface": ALICE}}
    )
    (error,) = conflict["errors"]
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["asteriskMessage"] == "Member not dynamic"
    forbidden = await graphql(lab, "sales", PAUSE, {"input": {"memberId": EVE, "queue": "support"}})
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await graphql(
        lab, "supervisor", PENALTY, {"input": {"queue": "sales", "interface": ALICE, "penalty": -3}}
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    viewer = await graphql(lab, "viewer", REMOVE, {"input": {"queue": "sales", "interface": BOB}})
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert lab.proxy.actions("QueuePenalty") == []
    assert lab.proxy.actions("QueuePause") == []
    assert len(lab.proxy.actions("QueueRemove")) == 1


@pytest.mark.parametrize(
    "protocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
)
async def test_penalty_over_each_websocket_protocol(lab: Lab, protocol: str) -> None:
    async with ws_session(lab, protocol, "supervisor") as session:
        result = await session.execute(
            GraphQLRequest(
                PENALTY,
                variable_values={"input": {"queue": "sales", "interface": BOB, "penalty": 4}},
            )
        )
    outcome = result["setMemberPenalty"]
    assert outcome["pending"] is False
    sales = next(q for q in outcome["operator"]["queues"] if q["queueName"] == "sales")
    assert sales["penalty"] == 4
    (sent,) = lab.proxy.actions("QueuePenalty")
    assert {k: v for k, v in sent.items() if k != "ActionID"} == {
        "Action": "QueuePenalty",
        "Queue": "sales",
        "Interface": BOB,
        "Penalty": "4",
    }
    (row,) = await lab.audit("setMemberPenalty")
    assert row["outcome"] == "ok"


@pytest.mark.parametrize(
    "protocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
)
async def test_scope_refusal_over_each_websocket_protocol(lab: Lab, protocol: str) -> None:
    async with ws_session(lab, protocol, "sales") as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(
                GraphQLRequest(
                    PAUSE, variable_values={"input": {"memberId": EVE, "queue": "support"}}
                )
            )
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert lab.proxy.actions("QueuePause") == []
    (row,) = await lab.audit("pauseOperator")
    assert row["outcome"] == "refused"
    assert row["scope"] == "sales"


LISTEN = """
mutation Listen($input: ListenToOperatorInput!) {
  listenToOperator(input: $input) { pending via operator { memberId } }
}"""


@pytest.mark.parametrize(
    "protocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
)
async def test_listen_over_each_websocket_protocol(lab: Lab, protocol: str) -> None:
    member, channel = await lab.call_in_progress()
    async with ws_session(lab, protocol, "supervisor") as session:
        result = await session.execute(
            GraphQLRequest(
                LISTEN,
                variable_values={
                    "input": {"memberId": member, "mode": "BARGE", "extension": "PJSIP/1010"}
                },
            )
        )
    assert result["listenToOperator"] == {
        "pending": False,
        "via": "AMI",
        "operator": {"memberId": member},
    }
    (sent,) = lab.proxy.actions("Originate")
    assert (sent["Channel"], sent["Data"]) == ("PJSIP/1010", f"{channel},qB")


async def test_listen_over_http_without_a_call_is_a_conflict(lab: Lab) -> None:
    body = await graphql(lab, "sales", LISTEN, {"input": {"memberId": ALICE}})
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert lab.proxy.actions("Originate") == []
