"""Item 18: `clear` touches no key but ours, whatever REDIS_KEY_PREFIX says, and never scans.

A redis-server of the test's own holds another tenant's keys next to ours.
`clear` used to SCAN with a pattern built from the raw prefix: `pbx[1]:`
matched `pbx1:…`, `pbx?:` matched `pbx2:…`, and the empty prefix matched
every `channel:*` in the database. Now `clear` deletes only what our own
index sets name, in bounded steps; a prefix with glob characters is refused
at start-up; and no SCAN or KEYS runs at all (it would block Redis for
O(database)).
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from api.settings import SettingsError
from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.store import StateStore
from tests.reliability.conftest import AppFactory, settings_for
from tests.reliability.env import record
from tests.reliability.procs import RedisServer

# Per prefix: another tenant's keys, which a pattern built from the prefix would match.
FOREIGN: dict[str, list[str]] = {
    "pbx[1]:": ["pbx1:queue:operator:PJSIP/9", "pbx1:channel:SIP/9-1", "pbx1:queue:status:q"],
    "pbx?:": ["pbx2:channel:SIP/7-1", "pbx2:queue:status:sales", "pbxA:queue:operator:X"],
    "": ["channel:foreign-app", "queue:operator:not-ours", "queue:status:legacy", "other:key"],
}
OURS = [
    Patch("operator", "PJSIP/1001", {"status": "idle"}),
    Patch("operator", "PJSIP/1002", {"status": "busy"}),
    Patch("queue", "sales", {"strategy": "ringall"}),
    Patch("channel", "PJSIP/1001-00000001", {"state": "up"}),
]


async def dump(redis: Redis, keys: list[str]) -> dict[str, bytes | None]:
    return {key: await redis.dump(key) for key in keys}


async def command_calls(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def clear_beside_foreign_keys(redis: Redis, prefix: str) -> dict[str, int]:
    for n, key in enumerate(FOREIGN[prefix]):
        await redis.set(key, f"foreign value {n}")
    await redis.sadd("pbx1:queue:operators:all", "PJSIP/9")  # the other tenant's own index
    foreign = [*FOREIGN[prefix], "pbx1:queue:operators:all"]
    before = await dump(redis, foreign)
    store = StateStore(redis, KeySchema(prefix))
    await store.apply(OURS)
    await redis.config_resetstat()
    removed = await store.clear(batch=1)
    calls = await command_calls(redis)
    assert removed == {"operator": 2, "queue": 1, "channel": 1}, (prefix, removed)
    assert await store.counts() == {"operator": 0, "queue": 0, "channel": 0}
    assert await redis.exists(*(store.keys.entity(p.kind, p.id) for p in OURS)) == 0
    assert await dump(redis, foreign) == before, f"prefix {prefix!r} touched a foreign key"
    assert calls.get("scan", 0) == 0 and calls.get("keys", 0) == 0, calls
    await redis.flushdb()
    return {"scripts": calls.get("evalsha", 0) + calls.get("eval", 0), "foreign": len(foreign)}


@pytest.mark.parametrize("prefix", ["pbx[1]:", "pbx?:"])
def test_a_prefix_with_glob_characters_is_refused(prefix: str, pg_url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_for(prefix=prefix, database_url=pg_url)
    assert str(refused.value).startswith("Invalid setting REDIS_KEY_PREFIX:")


async def test_clear_touches_no_foreign_key(
    own_redis: RedisServer, app_factory: AppFactory, lab_db: str
) -> None:
    redis = own_redis.client()
    figures: dict[str, dict[str, int]] = {}
    try:
        for prefix in FOREIGN:
            figures[prefix] = await clear_beside_foreign_keys(redis, prefix)
        # The same through the API, with the documented (empty) prefix.
        foreign = ["channel:foreign-app", "queue:operator:not-ours"]
        for key in foreign:
            await redis.set(key, "keep me")
        async with app_factory(
            database_url=lab_db, redis_url=own_redis.url, redis_key_prefix=""
        ) as running:
            cleared = await running.http.delete("/api/queue-status/clear")
            assert cleared.status_code == 200, cleared.text
            assert cleared.json()["data"]["queues"] == 3  # the lab's, synced from the database
        assert [await redis.get(key) for key in foreign] == [b"keep me", b"keep me"]
    finally:
        await redis.aclose()
    record(
        "18",
        "clear beside another tenant's keys with REDIS_KEY_PREFIX pbx[1]:, pbx?: and empty "
        "(keys a pattern of the prefix would match: pbx1:…, pbx2:…, channel:*)",
        "glob prefixes refused at start-up; only keys our index sets name deleted, in bounded "
        "steps; no foreign key touched; no SCAN/KEYS",
        **{
            f"{prefix or 'empty'} foreignTouched": 0
            for prefix in ("pbx[1]:", "pbx?:", "")  # asserted above
        },
        foreignKeys=sum(f["foreign"] for f in figures.values()),
        scanCalls=0,
        clearScriptCalls=sum(f["scripts"] for f in figures.values()),
        batch=1,
    )
