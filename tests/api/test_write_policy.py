"""The write policy: loopback open, non-loopback refused without tokens, tokens and roles."""

from __future__ import annotations

import pytest

from api.auth import AccessPolicy, Action
from api.errors import Forbidden, Unauthenticated
from api.settings import parse_api_tokens
from tests.api.conftest import AppFactory

BASE = "/api/queue-status"
POST = {"memberId": "PJSIP/1001", "status": "idle", "queueName": "sales"}


async def test_loopback_without_tokens_is_open(live_app: AppFactory) -> None:
    async with live_app() as app:
        assert (await app.client.post(f"{BASE}/operators", json=POST)).status_code == 201
        assert (await app.client.post(f"{BASE}/sync/resync")).status_code == 200


async def test_non_loopback_without_tokens_refuses_writes_and_says_how(
    live_app: AppFactory,
) -> None:
    async with live_app(host="0.0.0.0") as app:
        assert (await app.client.get(f"{BASE}/operators")).status_code == 200
        for method, path in (
            ("POST", "/operators"),
            ("POST", "/sync/resync"),
            ("DELETE", "/clear"),
        ):
            response = await app.client.request(method, f"{BASE}{path}", json=POST)
            assert response.status_code == 403
            assert "API_TOKENS" in response.json()["error"]
        assert (await app.client.get(f"{BASE}/operators")).json()["count"] == 4


async def test_tokens_and_roles(live_app: AppFactory) -> None:
    tokens = "supervisor:sup-token-1-0123456789,admin:adm-token-2-0123456789"
    async with live_app(host="0.0.0.0", api_tokens=tokens) as app:
        sup = {"Authorization": "Bearer sup-token-1-0123456789"}
        adm = {"Authorization": "Bearer adm-token-2-0123456789"}
        assert (await app.client.post(f"{BASE}/operators", json=POST)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            await app.client.post(f"{BASE}/operators", json=POST, headers=wrong)
        ).status_code == 401
        basic = {"Authorization": "Basic c3VwOnN1cA=="}
        assert (
            await app.client.post(f"{BASE}/operators", json=POST, headers=basic)
        ).status_code == 401
        assert (
            await app.client.post(f"{BASE}/operators", json=POST, headers=sup)
        ).status_code == 201
        denied = await app.client.post(f"{BASE}/sync/resync", headers=sup)
        assert denied.status_code == 403
        assert "admin" in denied.json()["error"]
        assert (await app.client.delete(f"{BASE}/clear", headers=sup)).status_code == 403
        assert (await app.client.post(f"{BASE}/sync/resync", headers=adm)).status_code == 200
        assert (
            await app.client.post(f"{BASE}/operators", json=POST, headers=adm)
        ).status_code == 201
        # Reads stay open while no viewer token is configured.
        assert (await app.client.get(f"{BASE}/operators")).status_code == 200
        # The token never shows in an error.
        assert "sup-token-1-0123456789" not in denied.text


async def test_a_viewer_token_protects_reads(live_app: AppFactory) -> None:
    async with live_app(api_tokens="viewer:view-1,admin:adm-2") as app:
        assert (await app.client.get(f"{BASE}/operators")).status_code == 401
        viewer = {"Authorization": "Bearer view-1"}
        assert (await app.client.get(f"{BASE}/operators", headers=viewer)).status_code == 200
        response = await app.client.post(f"{BASE}/operators", json=POST, headers=viewer)
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("loopback", "raw", "action", "header", "outcome"),
    [
        (True, "", Action.ADMIN, None, None),
        (False, "", Action.READ, None, None),
        (False, "", Action.SET_STATUS, None, Forbidden),
        (False, "admin:a", Action.SET_STATUS, "Bearer a", None),
        (True, "supervisor:s", Action.ADMIN, "Bearer s", Forbidden),
        (True, "supervisor:s", Action.SET_STATUS, None, Unauthenticated),
        (True, "supervisor:s", Action.READ, None, None),
        (True, "viewer:v", Action.READ, None, Unauthenticated),
        (True, "viewer:v", Action.READ, "bearer v", None),
    ],
)
def test_policy_table(
    loopback: bool,
    raw: str,
    action: Action,
    header: str | None,
    outcome: type[Exception] | None,
) -> None:
    policy = AccessPolicy(parse_api_tokens(raw), host_is_loopback=loopback)
    if outcome is None:
        policy.check(action, header)
    else:
        with pytest.raises(outcome):
            policy.check(action, header)
