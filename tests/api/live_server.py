"""The served-app tests' toolkit: a handle on a running app, settings, seed data, polling."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from api.graphql.connections import WebSocketLimits
from api.live import LiveBroadcaster
from api.runtime import runtime_of
from api.settings import Settings, load_settings
from ingest.patches import Patch
from ingest.store import StateStore

JsonObject = dict[str, Any]
# The same services as tests/conftest.py.
REDIS_URL = os.environ.get("QS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_ADMIN_URL = os.environ.get("QS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class LiveServer:
    """A running app: its URLs, an HTTP client, its store and its broadcaster."""

    app: FastAPI
    port: int
    http: httpx.AsyncClient
    store: StateStore

    @property
    def ws_url(self) -> str:
        """The GraphQL WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def broadcaster(self) -> LiveBroadcaster:
        """The app's broadcaster."""
        return runtime_of(self.app).broadcaster

    def ws_limits(self) -> WebSocketLimits:
        """The WebSocket connection limiter inside the app's middleware stack."""
        node: Any = self.app.middleware_stack
        while node is not None:
            if isinstance(node, WebSocketLimits):
                return node
            node = getattr(node, "app", None)
        raise AssertionError("WebSocketLimits is not installed")

    async def graphql(
        self,
        query: str,
        variables: JsonObject | None = None,
        *,
        token: str | None = None,
    ) -> JsonObject:
        """POST a GraphQL operation; the whole JSON answer."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: JsonObject = response.json()
        return body

    async def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the REST router under /api/queue-status."""
        return await self.http.request(method, f"/api/queue-status{path}", **kwargs)


# `serve(**settings_overrides)`: the app running on a free port until the block ends.
Serve = Callable[..., AbstractAsyncContextManager["LiveServer"]]


def make_settings(database_url: str, key_prefix: str, **overrides: Any) -> Settings:
    """Settings of a test server: AMI off, open access on loopback, no log file."""
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": key_prefix,
        "database_url": database_url,
        "ami_enabled": False,
        "api_tokens": "",
        "host": "127.0.0.1",
        "port": 0,
        "log_file": "",
        "cors_origins": "http://localhost:4200",
    }
    values.update(overrides)
    return load_settings(**values)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until `condition()` holds; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def seed(store: StateStore) -> None:
    """A small call centre: two queues, three operators (one paused everywhere), a waiting
    caller, two channels."""
    await store.apply(
        [
            Patch("queue", "sales", {"strategy": "ringall", "serviceLevel": 20, "wrapupTime": 5}),
            Patch("queue", "support", {"strategy": "leastrecent", "completed": 7}),
            Patch(
                "operator",
                "PJSIP/1001",
                {
                    "memberName": "Alice",
                    "stateInterface": "PJSIP/1001",
                    "status": "in_call",
                    "currentCallId": "1703337600.1",
                    "currentChannel": "PJSIP/1001-00000001",
                    "queues": {
                        "sales": {
                            "queueName": "sales",
                            "penalty": 1,
                            "paused": False,
                            "callsTaken": 3,
                            "lastCall": 1_703_337_000,
                            "loginTime": 1_703_330_000,
                            "wrapupTime": 5,
                            "membership": "dynamic",
                            "inCall": True,
                            "ringinuse": False,
                        }
                    },
                },
            ),
            Patch(
                "operator",
                "PJSIP/1002",
                {
                    "memberName": "Bob",
                    "status": "idle",
                    "queues": {
                        "sales": {"queueName": "sales", "paused": True, "pausedReason": "lunch"},
                        "support": {"queueName": "support", "membership": "realtime"},
                    },
                },
            ),
            Patch(
                "operator",
                "PJSIP/1003",
                {
                    "status": "unavailable",
                    "queues": {
                        "support": {
                            "queueName": "support",
                            "paused": True,
                            "pausedReason": "break",
                            "lastPause": 1_703_336_000,
                        }
                    },
                },
            ),
            Patch(
                "queue",
                "sales",
                {
                    "callers": {
                        "1703337600.9": {
                            "position": 1,
                            "channel": "PJSIP/trunk-00000009",
                            "uniqueId": "1703337600.9",
                            "callerIdNum": "+15551234",
                            "callerIdName": "Carol",
                            "joinedAt": 1_703_337_600_000,
                        }
                    },
                    "holdTime": 12,
                    "talkTime": 95,
                    "completed": 40,
                    "abandoned": 2,
                    "serviceLevelPerf": 87.5,
                },
            ),
            Patch(
                "channel",
                "PJSIP/1001-00000001",
                {
                    "uniqueId": "1703337600.1",
                    "linkedId": "1703337600.0",
                    "state": "up",
                    "callerIdNum": "1001",
                    "callerIdName": "Alice",
                    "connectedLineNum": "+15550000",
                    "connectedLineName": "Dave",
                    "context": "from-queue",
                    "exten": "sales",
                    "queueName": "sales",
                    "memberId": "PJSIP/1001",
                    "createdAt": 1_703_337_590_000,
                    "answeredAt": 1_703_337_595_000,
                },
            ),
            Patch(
                "channel",
                "PJSIP/trunk-00000009",
                {"uniqueId": "1703337600.9", "state": "ring", "queueName": "sales"},
            ),
        ]
    )


async def seed_support_calls(store: StateStore) -> None:
    """Beside `seed`: a call Bob (sales and support) takes from support, and a support caller
    still ringing — what a `sales` token sees of support (Bob's call) and does not."""
    await store.apply(
        [
            Patch(
                "channel",
                "PJSIP/1002-00000003",
                {"state": "up", "queueName": "support", "memberId": "PJSIP/1002"},
            ),
            Patch(
                "channel",
                "PJSIP/trunk-00000010",
                {"uniqueId": "1703337600.10", "state": "ring", "queueName": "support"},
            ),
        ]
    )
