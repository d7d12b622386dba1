"""The one home of the Redis key schema.

Keys are compatible with the documented system (`seed-runbook.md`):

    queue:operator:{memberId}   JSON — one operator (interface level)
    queue:operators:all         SET of memberIds
    queue:status:{queueName}    JSON — one queue
    queues:all                  SET of queue names
    channel:{channelName}       JSON — one active channel
    channels:all                SET of channel names
    queue-status:version        INCR counter, the global change sequence
    queue-status:changes        pub/sub channel of change batches
    queue-status:staged:{kind}  HASH id → JSON: bookkeeping kept out of the entity's
                                documented JSON (an operator's `callsAfterCall`)
    queue-status:ingest:lease   the elected ingest's lease (`ingest.election`)
    queue-status:ingest:epoch   INCR counter: the leader's fencing token
    queue-status:records:*      the call-record writer's (`ingest.records.buffer`):
                                buffer (capped STREAM), overflow (counter), open
                                (the builder's open calls at a stop), lease
    queue-status:actions:*      supervisor actions relayed to the elected ingest
                                (`ingest.actions.relay_server`): requests (capped
                                STREAM, group `leader`), taken:{id}, answer:{id},
                                reply:{id} (short TTLs)

An optional prefix (`REDIS_KEY_PREFIX`) lets several PBXes or test runs share
one Redis; with PBXES each PBX's keys carry `pbx_prefix(prefix, name)` in
front (`{east}:queue:operator:PJSIP/1001`). In a Redis Cluster the prefix
carries a hash tag (`{main}:`, see `hash_tag`; a PBX of PBXES has its name
as its tag), so every key of a PBX is in one slot. Nothing else in the code
base spells a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Kind = Literal["operator", "queue", "channel"]
KINDS: tuple[Kind, ...] = get_args(Kind)

_ENTITY_PREFIX: dict[Kind, str] = {
    "operator": "queue:operator:",
    "queue": "queue:status:",
    "channel": "channel:",
}
_INDEX: dict[Kind, str] = {
    "operator": "queue:operators:all",
    "queue": "queues:all",
    "channel": "channels:all",
}


@dataclass(frozen=True, slots=True)
class KeySchema:
    """Builds every key and channel name, behind an optional prefix."""

    prefix: str = ""

    def entity_prefix(self, kind: Kind) -> str:
        """The key prefix of one kind, e.g. `queue:operator:`."""
        return self.prefix + _ENTITY_PREFIX[kind]

    def entity(self, kind: Kind, entity_id: str) -> str:
        """The key of one entity."""
        return self.prefix + _ENTITY_PREFIX[kind] + entity_id

    def index(self, kind: Kind) -> str:
        """The SET of ids of one kind."""
        return self.prefix + _INDEX[kind]

    def operator(self, member_id: str) -> str:
        """`queue:operator:{memberId}`."""
        return self.entity("operator", member_id)

    def queue(self, name: str) -> str:
        """`queue:status:{name}`."""
        return self.entity("queue", name)

    def channel(self, name: str) -> str:
        """`channel:{name}`."""
        return self.entity("channel", name)

    @property
    def version(self) -> str:
        """The global change counter."""
        return self.prefix + "queue-status:version"

    @property
    def changes(self) -> str:
        """The pub/sub channel every change batch is published on."""
        return self.prefix + "queue-status:changes"

    def staged(self, kind: Kind) -> str:
        """The HASH of one kind's internal fields, by id (never part of an answer).

        The apply script keeps them there and merges them back in only while it
        applies a patch (ingest/lua/apply.lua, `INTERNAL`).
        """
        return self.prefix + "queue-status:staged:" + kind

    def meta(self, name: str) -> str:
        """A small bookkeeping hash of ours (sync report, AMI status)."""
        return self.prefix + "queue-status:meta:" + name

    def records(self, name: str) -> str:
        """A key of the call-record writer: ``buffer`` (the capped STREAM of records
        waiting for PostgreSQL), ``overflow`` (records refused by the cap), ``open``
        (the builder's open calls and intervals, saved at a graceful stop), ``lease``
        (which process drains the buffer)."""
        return self.prefix + "queue-status:records:" + name

    def writer(self, writer_id: str) -> str:
        """apply.lua's mark of one writer's last applied batch number (`StateStore.apply`)."""
        return self.prefix + "queue-status:writer:" + writer_id

    def ingest(self, name: str) -> str:
        """A key of the ingest election (`ingest.election`): ``lease`` (the leader's
        token, with a TTL) and ``epoch`` (INCR per leadership; apply.lua spells it too)."""
        return self.prefix + "queue-status:ingest:" + name

    def actions(self, name: str) -> str:
        """A key of the action relay (`ingest.actions.relay_server`): ``requests`` (the
        STREAM an `api` process adds actions to), ``taken:<id>`` (who took one, or
        ``expired``), ``answer:<id>`` (its stored answer) and ``reply:<id>`` (the LIST the
        waiting process pops it from)."""
        return self.prefix + "queue-status:actions:" + name


def pbx_prefix(prefix: str, pbx: str) -> str:
    """The key prefix of one PBX of several (PBXES): `REDIS_KEY_PREFIX{name}:`.

    The braces make the name a Redis Cluster hash tag, so every key of one PBX
    lands in one slot (its Lua scripts touch many keys at once), while several
    PBXes spread over the cluster.
    """
    return prefix + "{" + pbx + "}:"


def hash_tag(prefix: str) -> str | None:
    """The hash tag every key behind `prefix` shares, or None when the prefix has none.

    Redis Cluster hashes a key by its tag when it has one: the text between the
    first "{" and the first "}" after it, if not empty (else the whole key). Only
    a tag complete inside the prefix is the tag of every key behind it: one whose
    "}" came later, from an id, would differ from key to key.
    """
    start = prefix.find("{")
    if start < 0:
        return None
    end = prefix.find("}", start + 1)
    if end <= start + 1:  # no "}" in the prefix, or "{}" (an empty tag hashes the whole key)
        return None
    return prefix[start + 1 : end]


def cluster_prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot serve a Redis Cluster (every key of a PBX, the change channel
    included, must hash to one slot, so each Lua script touches one node), or None."""
    if hash_tag(prefix) is not None:
        return None
    return (
        "needs a hash tag in Redis Cluster mode, so every key of the PBX is in one slot "
        "(e.g. REDIS_KEY_PREFIX={main}:)"
    )
