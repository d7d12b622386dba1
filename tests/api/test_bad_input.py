"""Bad input gets a clear 4xx with `success: false`, and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import LiveApp

BASE = "/api/queue-status"


async def _version(app: LiveApp) -> int:
    return int((await app.client.get(f"{BASE}/snapshot")).json()["data"]["version"])


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "malformed JSON",
        ),
        (
            {
                "content": b"memberId=x",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "JSON object",
        ),
        ({"json": ["not", "an", "object"]}, 400, "JSON object"),
        ({"json": {"status": "idle"}}, 422, "memberId"),
        ({"json": {"memberId": "PJSIP/1001"}}, 422, "status"),
        ({"json": {"memberId": "", "status": "idle"}}, 422, "memberId"),
        ({"json": {"memberId": "PJSIP/1001", "status": "dancing"}}, 400, "unknown status"),
        (
            {"json": {"memberId": "PJSIP/1001\r\nAction: Originate", "status": "idle"}},
            422,
            "CR, LF",
        ),
        (
            {"json": {"memberId": "PJSIP/1001", "status": "idle", "pausedReason": "x\ny"}},
            422,
            "CR, LF",
        ),
        ({"json": {"memberId": "PJSIP/1001", "status": "idle", "paused": "maybe"}}, 422, "paused"),
    ],
)
async def test_bad_post_is_refused_and_changes_nothing(
    app: LiveApp, kwargs: dict[str, Any], status: int, fragment: str
) -> None:
    before = await _version(app)
    response = await app.client.post(f"{BASE}/operators", **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert fragment in body["error"]
    assert "Traceback" not in response.text
    assert await _version(app) == before


async def test_unknown_operator_is_404(app: LiveApp) -> None:
    response = await app.client.get(f"{BASE}/operators/PJSIP%2F9999")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "operator 'PJSIP/9999' not found"}


async def test_unknown_status_filter_is_400(app: LiveApp) -> None:
    response = await app.client.get(f"{BASE}/operators?status=sleeping")
    assert response.status_code == 400
    assert response.json()["success"] is False


async def test_unknown_route_keeps_the_error_shape(app: LiveApp) -> None:
    response = await app.client.get(f"{BASE}/nothing-here")
    assert response.status_code == 404
    assert response.json()["success"] is False
