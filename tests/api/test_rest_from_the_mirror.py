"""REST collection reads from the live mirror: the same bytes as from Redis, only when current."""

from __future__ import annotations

from typing import Any

import pytest

import api.service
from api.live import LiveState
from api.runtime import runtime_of
from api.service import QueueStatusService
from ingest.patches import Patch
from tests.api.live_server import LiveServer, seed, wait_for

NOW = 1_703_337_700_000
BASE = "/api/queue-status"


@pytest.fixture
async def current(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """The seeded server with its mirror caught up, at a frozen clock."""
    monkeypatch.setattr(api.service, "now_ms", lambda: NOW)
    await seed(server.store)
    latest = await server.store.version()
    await wait_for(lambda: server.broadcaster.feed.version == latest)
    return server


def mirror_of(server: LiveServer) -> LiveState:
    """The app's live mirror."""
    feed = server.broadcaster.feed
    assert isinstance(feed, LiveState)
    return feed


def service(server: LiveServer) -> QueueStatusService:
    """The app's domain service."""
    return runtime_of(server.app).service


@pytest.mark.parametrize(
    "path",
    [
        "/operators",
        "/operators?queue=sales",
        "/operators?status=idle&paused=false",
        "/snapshot",
        "/queues",
        "/channels",
        "/channels?queue=sales",
    ],
)
async def test_reads_from_the_mirror_are_the_bytes_of_reads_from_redis(
    current: LiveServer, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = mirror_of(current)
    assert await service(current).current(mirror) is mirror
    reads: list[str] = []
    for name in ("operators", "operators_json", "channels", "channels_json", "queue_views"):
        method = getattr(mirror, name)

        def counted(*args: object, _method: Any = method, _name: str = name) -> Any:
            reads.append(_name)
            return _method(*args)

        monkeypatch.setattr(mirror, name, counted)
    served = await current.rest("GET", path)
    assert reads, "the mirror was not read"
    # The same request with no mirror: the read goes to Redis.
    with monkeypatch.context() as without_mirror:
        without_mirror.setattr(runtime_of(current.app).default, "mirror", None)
        from_redis = await current.rest("GET", path)
    assert served.status_code == from_redis.status_code == 200
    assert served.content == from_redis.content


async def test_a_mirror_behind_redis_is_passed_over(current: LiveServer) -> None:
    mirror = mirror_of(current)
    await current.broadcaster.stop()  # the mirror stops following
    await current.store.apply([Patch("operator", "PJSIP/1001", {"status": "ringing"})])
    assert await service(current).current(mirror) is None
    body = (await current.rest("GET", "/operators")).json()
    statuses = {op["memberId"]: op["status"] for op in body["data"]}
    assert statuses["PJSIP/1001"] == "ringing"
