"""Item 25: two PBXes on one Redis Cluster (three masters), every feature working.

The test runs its own cluster (`tests.reliability.cluster`: three
`redis-server --cluster-enabled yes` masters with a password, created with
`redis-cli --cluster create`) and two real service processes (`queue-status
serve`, REDIS_CLUSTER=true), each fed by its own simulator and saving to its
own database. Their prefixes carry hash tags whose slots are served by
different masters (asserted with CLUSTER KEYSLOT and CLUSTER SHARDS). One
process is seeded by REDIS_URL alone, the other by REDIS_CLUSTER_NODES with an
unresolvable REDIS_URL host (only its password is used). For each PBX: REST and
GraphQL answer what its store holds; a GraphQL `changes` subscriber sees
contiguous versions (sharded pub/sub) and ends equal to the store; a
supervisor pause through the console reaches Asterisk and comes back (the
audit row lands in PostgreSQL); completed calls reach `queue_call_records`;
and the state equals the simulator's truth. Then the first PBX's slot is
resharded to the third master: its writes follow MOVED, its subscription
follows the slot (its subscribers get a RESYNC, the other PBX's none), and the
state again equals the truth. Then every node is scanned: each
key carries one of the two tags and lives on its tag's master, nothing else.
Last, a start with REDIS_CLUSTER=true and a prefix without a tag is refused
in one line naming REDIS_KEY_PREFIX. `make test` runs the in-process version
(tests/ingest/test_redis_cluster.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema, hash_tag
from ingest.redis_client import cluster_client, fail_fast_options
from ingest.redis_sentinel import parse_sentinels
from ingest.store import StateStore
from simulator import AmiSimulator
from tests.reliability.cluster import ClusterLab, cluster_lab
from tests.reliability.conftest import AMI_SECRET, lab_database
from tests.reliability.env import record
from tests.reliability.procs import REPO, ServiceProcess
from tests.reliability.subscribers import ChangesFollower, store_state
from tests.reliability.wsclient import PROTOCOLS, GqlSocket
from tests.support.busy_lab import lab, traffic
from tests.support.expected import state_view, truth_view, without_fields

PASSWORD = "cluster-canary-7c1f"
TOKEN = "cluster-supervisor-token-1"
PG_ADMIN_URL = os.environ.get("QS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QS = str(Path(sys.executable).parent / "queue-status")
OPERATORS = "{ operators { memberId status paused } queues { name } }"
PAUSE = """
mutation Pause($input: PauseOperatorInput!) {
  pauseOperator(input: $input) { pending via operator { memberId queues { queueName paused } } }
}"""


@dataclass
class Pbx:
    """One PBX: its prefix, simulator, database, service and a store of the test's own."""

    name: str
    keys: KeySchema
    sim: AmiSimulator
    database_url: str
    service: ServiceProcess
    store: StateStore

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}", "Connection": "close"}


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetch_value(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def _tags_on_two_masters(cluster: ClusterLab) -> tuple[str, str]:
    """Two hash tags whose slots different masters serve (CLUSTER KEYSLOT, CLUSTER SHARDS)."""
    run = uuid.uuid4().hex[:6]
    first = f"pbx-a-{run}"
    owner = await cluster.owner_port(await cluster.keyslot(f"{{{first}}}:"))
    for n in range(100):
        other = f"pbx-b-{run}-{n}"
        if await cluster.owner_port(await cluster.keyslot(f"{{{other}}}:")) != owner:
            return first, other
    raise AssertionError("no tag of another master in 100 tries")


def _service(
    cluster: ClusterLab, keys: KeySchema, sim: AmiSimulator, database_url: str, *, seeds: bool
) -> ServiceProcess:
    env = {
        "REDIS_CLUSTER": "true",
        "REDIS_KEY_PREFIX": keys.prefix,
        "DATABASE_URL": database_url,
        "AMI_HOST": "127.0.0.1",
        "AMI_PORT": str(sim.port),
        "AMI_USERNAME": "admin",
        "AMI_SECRET": AMI_SECRET,
        "API_TOKENS": f"supervisor:{TOKEN}",
        "LOG_LEVEL": "INFO",
    }
    if seeds:
        # Only REDIS_CLUSTER_NODES can be reached: REDIS_URL gives the password alone.
        env["REDIS_URL"] = f"redis://:{PASSWORD}@cluster-seed.invalid:6379/0"
        env["REDIS_CLUSTER_NODES"] = cluster.nodes
    else:
        env["REDIS_URL"] = cluster.url
    return ServiceProcess(env, harness=False)


@pytest.fixture
async def cluster() -> AsyncIterator[ClusterLab]:
    async with cluster_lab(password=PASSWORD) as started:
        yield started


@pytest.fixture
async def client(cluster: ClusterLab) -> AsyncIterator[Redis]:
    """The test's own view of the cluster (the product's client)."""
    redis = cluster_client(
        parse_sentinels(cluster.nodes), redis_url=cluster.url, **fail_fast_options()
    )
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
async def pbxes(cluster: ClusterLab, client: Redis) -> AsyncIterator[list[Pbx]]:
    """Two PBXes in different slots, each with its simulator, database and service."""
    tags = await _tags_on_two_masters(cluster)
    made: list[Pbx] = []
    databases: list[str] = []
    try:
        for n, tag in enumerate(tags):
            database = f"qs_test_{uuid.uuid4().hex[:12]}"
            await _admin(f'CREATE DATABASE "{database}"')
            databases.append(database)
            url = await lab_database(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}")
            sim = AmiSimulator(secret=AMI_SECRET, model=lab(seed=7 + n), realtime=False)
            await sim.start()
            keys = KeySchema(f"{{{tag}}}:")
            service = _service(cluster, keys, sim, url, seeds=n == 1)
            made.append(Pbx(tag, keys, sim, url, service, StateStore(client, keys)))
        for pbx in made:
            await pbx.service.start()
        yield made
    finally:
        for pbx in made:
            await pbx.service.close()
            await pbx.sim.stop()
        for database in databases:
            await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _until_truth(pbx: Pbx, timeout: float = 20.0) -> None:
    """The store equals its simulator's truth (LastCall aside: the ingest's clock)."""
    expected = without_fields(truth_view(pbx.sim.truth()), "last_call")
    ours: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                ours = without_fields(state_view(await pbx.store.snapshot()), "last_call")
                if ours == expected:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        assert ours == expected, pbx.name


async def _queries_match_the_store(http: httpx.AsyncClient, pbx: Pbx) -> int:
    """REST and GraphQL answer what the PBX's store holds; the number of operators."""
    snapshot = await pbx.store.snapshot()
    members = sorted(str(o["memberId"]) for o in snapshot.operators)
    rest = await http.get(
        f"{pbx.service.url}/api/queue-status/operators", headers={"Connection": "close"}
    )
    assert rest.status_code == 200, rest.text
    assert sorted(o["memberId"] for o in rest.json()["data"]) == members
    graphql = await http.post(
        f"{pbx.service.url}/graphql", json={"query": OPERATORS}, headers={"Connection": "close"}
    )
    data = graphql.json()["data"]
    assert sorted(o["memberId"] for o in data["operators"]) == members
    assert sorted(q["name"] for q in data["queues"]) == ["billing", "sales", "support"]
    return len(members)


async def _pause(http: httpx.AsyncClient, pbx: Pbx, member: str, *, graphql: bool) -> None:
    """A supervisor pause through the console (GraphQL or REST), confirmed by Asterisk."""
    if graphql:
        answer = await http.post(
            f"{pbx.service.url}/graphql",
            json={"query": PAUSE, "variables": {"input": {"memberId": member, "queue": "sales"}}},
            headers=pbx.auth,
        )
        result = answer.json()["data"]["pauseOperator"]
    else:
        answer = await http.post(
            f"{pbx.service.url}/api/queue-status/operators/{member}/pause",
            json={"queue": "sales"},
            headers=pbx.auth,
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
    assert result["pending"] is False and str(result["via"]).lower() == "ami", result
    async with asyncio.timeout(10):
        while True:
            operator = await pbx.store.get("operator", member) or {}
            if ((operator.get("queues") or {}).get("sales") or {}).get("paused") is True:
                break
            await asyncio.sleep(0.05)


async def _rows(pbx: Pbx, sql: str, at_least: int = 1, timeout: float = 20.0) -> int:
    """Wait until `sql` counts at least `at_least` rows in the PBX's database."""
    count = 0
    async with asyncio.timeout(timeout):
        while (count := int(await _fetch_value(pbx.database_url, sql))) < at_least:
            await asyncio.sleep(0.2)
    return count


async def _followers_equal_the_stores(pbxes: list[Pbx], followers: list[ChangesFollower]) -> None:
    """Each store equals its simulator's truth, and each PBX's two subscribers (its pair in
    `followers`) reached the store's version with contiguous versions and its state."""
    for pbx in pbxes:
        await _until_truth(pbx)
    for n, pbx in enumerate(pbxes):
        version, state = await store_state(pbx.store)
        for follower in followers[2 * n : 2 * n + 2]:
            await follower.reaches(version, 20)
            assert not follower.violations, follower.violations
            assert follower.state == state, follower.name


async def _shard_subscribers(cluster: ClusterLab, port: int, pbx: Pbx) -> int:
    plain = cluster.node_at(port).client()
    try:
        reply = await plain.execute_command("PUBSUB", "SHARDNUMSUB", pbx.keys.changes)  # type: ignore[no-untyped-call]
        return int(reply[1])
    finally:
        await plain.aclose()


async def _keys_by_node(cluster: ClusterLab) -> dict[int, list[str]]:
    """Every key of every master (SCAN of each node alone)."""
    return {
        node.port: [key.decode() for key in await cluster.keys_on(node.port, "")]
        for node in cluster.masters
    }


@pytest.mark.slow  # real processes and a cluster: `make test` has the in-process version
@pytest.mark.timeout(240)
async def test_two_pbxes_on_a_redis_cluster_in_different_slots(
    cluster: ClusterLab, pbxes: list[Pbx]
) -> None:
    owners = {}
    for pbx in pbxes:
        assert hash_tag(pbx.keys.prefix) == pbx.name
        slot = await cluster.keyslot(pbx.keys.version)
        assert await cluster.keyslot(pbx.keys.operator("Local/1001@agents/n")) == slot
        owners[pbx.name] = await cluster.owner_port(slot)
    assert len(set(owners.values())) == 2, owners

    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for pbx in pbxes:
            health = await http.get(f"{pbx.service.url}/healthz", headers={"Connection": "close"})
            assert health.status_code == 200, health.text
        followers: list[ChangesFollower] = []
        for pbx in pbxes:
            for protocol in PROTOCOLS:
                socket = await GqlSocket.open(pbx.service.ws_url, protocol)
                follower = ChangesFollower(socket, f"{pbx.name}/{protocol}")
                follower.start()
                followers.append(follower)
        try:
            await asyncio.gather(*(traffic(pbx.sim, 90) for pbx in pbxes))
            for pbx in pbxes:
                await _until_truth(pbx)
            operators = [await _queries_match_the_store(http, pbx) for pbx in pbxes]
            for pbx in pbxes:  # each process's one subscription: SSUBSCRIBE on its master
                assert await _shard_subscribers(cluster, owners[pbx.name], pbx) == 1
            await _pause(http, pbxes[0], "Local/1001@agents/n", graphql=True)
            await _pause(http, pbxes[1], "Local/1003@agents/n", graphql=False)
            await asyncio.gather(*(traffic(pbx.sim, 30) for pbx in pbxes))
            await _followers_equal_the_stores(pbxes, followers)
            assert all(f.resyncs == 0 for f in followers), [f.reasons for f in followers]

            # Resharding: the first PBX's slot moves to the third master under its feet.
            moved = pbxes[0]
            third = next(n.port for n in cluster.masters if n.port not in owners.values())
            await cluster.move_slot(await cluster.keyslot(moved.keys.version), third)
            owners[moved.name] = third
            await asyncio.gather(*(traffic(pbx.sim, 30) for pbx in pbxes))
            await _followers_equal_the_stores(pbxes, followers)
            assert all(f.resyncs >= 1 for f in followers[:2]), "the moved PBX's subscribers"
            assert all(f.resyncs == 0 for f in followers[2:]), [f.reasons for f in followers]
            assert await _shard_subscribers(cluster, third, moved) == 1
        finally:
            for follower in followers:
                await follower.stop()
        audits = [
            await _rows(pbx, "SELECT count(*) FROM queue_status_audit WHERE outcome = 'ok'")
            for pbx in pbxes
        ]
        calls = [await _rows(pbx, "SELECT count(*) FROM queue_call_records") for pbx in pbxes]
        for pbx in pbxes:
            health = (
                await http.get(f"{pbx.service.url}/healthz", headers={"Connection": "close"})
            ).json()["data"]
            assert health["status"] == "ok", health
            assert health["records"]["overflow"] == 0, health["records"]

    by_node = await _keys_by_node(cluster)
    for pbx in pbxes:
        ours = {
            port: [k for k in keys if k.startswith(pbx.keys.prefix)]
            for port, keys in by_node.items()
        }
        assert ours[owners[pbx.name]], f"{pbx.name} wrote nothing on its master"
        strays = {port: keys for port, keys in ours.items() if port != owners[pbx.name] and keys}
        assert not strays, f"{pbx.name} keys outside its slot's master: {strays}"
    foreign = [
        k
        for keys in by_node.values()
        for k in keys
        if not k.startswith(tuple(p.keys.prefix for p in pbxes))
    ]
    assert foreign == [], f"keys outside both namespaces: {foreign[:10]}"
    for pbx in pbxes:
        output = pbx.service.output()
        assert PASSWORD not in output and "Traceback" not in output

    refusal = await _refused_without_a_tag(cluster)
    slots = [await cluster.keyslot(p.keys.version) for p in pbxes]
    versions = [await p.store.version() for p in pbxes]
    figures = {
        "masters": len(cluster.masters),
        "slots": "/".join(str(slot) for slot in slots),
        "operators": "/".join(str(n) for n in operators),
        "versions": "/".join(str(version) for version in versions),
        "subscribers": len(followers),
        "subscriberMessages": sum(f.messages for f in followers),
        "resyncsAfterReshard": "/".join(
            str(sum(f.resyncs for f in followers[2 * n : 2 * n + 2])) for n in range(2)
        ),
        "callRecords": "/".join(str(n) for n in calls),
        "auditRows": "/".join(str(n) for n in audits),
        "keys": "/".join(str(len(keys)) for keys in by_node.values()),
        "strayKeys": 0,
        "untaggedPrefixExit": refusal,
    }
    record(
        "25",
        "two PBXes on a Redis Cluster (3 masters, password), their hash tags on different "
        "masters, each fed by its own simulator; then one PBX's slot resharded to the third",
        "REST + GraphQL answer each store; subscribers contiguous over sharded pub/sub "
        "(copy = store); console pause confirmed, audited; call records in PostgreSQL; state "
        "= Asterisk's truth; writes and the subscription follow the moved slot (RESYNC); every "
        "key on its tag's master; a prefix without a tag refused",
        **figures,
    )


async def _refused_without_a_tag(cluster: ClusterLab) -> int:
    """`queue-status serve` with REDIS_CLUSTER=true and an untagged prefix: one line, exit 2."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "REDIS_CLUSTER": "true",
        "REDIS_URL": cluster.url,
        "REDIS_KEY_PREFIX": "pbx-1:",
        "LOG_FILE": "",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [QS, "serve"],
        env=env,
        cwd=cluster.masters[0].dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("queue-status serve: Invalid setting REDIS_KEY_PREFIX:")
    assert "REDIS_KEY_PREFIX={main}:" in done.stderr and PASSWORD not in done.stderr
    return done.returncode
