"""REST list filters: an empty one (`?queue=`) is no filter, on every list alike."""

from __future__ import annotations

import pytest

from ingest.patches import Patch
from ingest.store import StateStore
from tests.api.conftest import LiveApp

BASE = "/api/queue-status"


EVERYONE = {"PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("queue=", EVERYONE),
        ("status=", EVERYONE),
        ("paused=", EVERYONE),
        ("queue=&status=&paused=", EVERYONE),
        ("queue=support&status=", {"PJSIP/1002", "PJSIP/1003"}),
        ("queue=&paused=true", {"PJSIP/1003"}),
        ("queue=billing&paused=", {"PJSIP/1004"}),
    ],
)
async def test_an_empty_filter_is_no_filter(app: LiveApp, query: str, expected: set[str]) -> None:
    response = await app.client.get(f"{BASE}/operators?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {op["memberId"] for op in body["data"]} == expected
    assert body["count"] == len(expected)


async def test_an_empty_channel_filter_is_no_filter(app: LiveApp, store: StateStore) -> None:
    await store.apply(
        [
            Patch("channel", "PJSIP/1001-00000001", {"queueName": "sales", "state": "up"}),
            Patch("channel", "PJSIP/1004-00000002", {"queueName": "billing", "state": "up"}),
            Patch("channel", "PJSIP/1009-00000003", {"state": "ring"}),  # in no queue
        ]
    )
    everyone = {"PJSIP/1001-00000001", "PJSIP/1004-00000002", "PJSIP/1009-00000003"}
    for query, expected in [
        ("", everyone),
        ("?queue=", everyone),
        ("?queue=sales", {"PJSIP/1001-00000001"}),
    ]:
        body = (await app.client.get(f"{BASE}/channels{query}")).json()
        assert {c["name"] for c in body["data"]} == expected, query
        assert body["count"] == len(expected)


async def test_filters_are_still_validated(app: LiveApp) -> None:
    for query in ("paused=maybe", "queue=" + "q" * 129, "status=sleeping"):
        response = await app.client.get(f"{BASE}/operators?{query}")
        assert response.status_code in (400, 422), query
        assert response.json()["success"] is False
