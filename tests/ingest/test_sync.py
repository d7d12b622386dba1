"""The pure planning step of the DB → Redis sync."""

from __future__ import annotations

from ingest.db.repository import DbConfig, MemberConfig, QueueConfig
from ingest.patches import Patch, Retain
from ingest.sync import plan_sync


def _member(queue: str, interface: str, **extra: object) -> MemberConfig:
    values: dict[str, object] = {
        "queue_name": queue,
        "interface": interface,
        "member_name": interface.split("/")[-1],
        "state_interface": interface,
        "uniqueid": hash((queue, interface)) & 0xFFFF,
    }
    values.update(extra)
    return MemberConfig(**values)  # type: ignore[arg-type]


CONFIG = DbConfig(
    queues=(QueueConfig(name="sales", strategy="rrmemory", service_level=20),),
    members=(
        _member("sales", "PJSIP/1", penalty=2, paused=True, paused_reason="lunch"),
        _member("support", "PJSIP/1"),
    ),
)


def test_one_patch_per_interface_with_every_membership() -> None:
    changes, removed = plan_sync(CONFIG, [], authoritative=True)
    operator = next(c for c in changes if isinstance(c, Patch) and c.kind == "operator")
    assert operator.id == "PJSIP/1"
    sales = operator.set["queues"]["sales"]
    assert (sales["penalty"], sales["paused"], sales["pausedReason"]) == (2, True, "lunch")
    assert set(operator.set["queues"]) == {"sales", "support"}
    assert removed == []


def test_queue_only_named_by_members_still_shows() -> None:
    changes, _ = plan_sync(CONFIG, [], authoritative=True)
    queues = {c.id for c in changes if isinstance(c, Patch) and c.kind == "queue"}
    assert queues == {"sales", "support"}


def test_authoritative_database_removes_what_it_no_longer_has() -> None:
    current = [{"memberId": "PJSIP/1", "queues": {"sales": {}, "billing": {}}}]
    changes, removed = plan_sync(CONFIG, current, authoritative=True)
    operator = next(c for c in changes if isinstance(c, Patch) and c.kind == "operator")
    assert operator.set["queues"]["billing"] is None
    assert removed == ["PJSIP/1@billing"]
    retained = {c.kind: c.keep for c in changes if isinstance(c, Retain)}
    assert retained == {
        "operator": frozenset({"PJSIP/1"}),
        "queue": frozenset({"sales", "support"}),
    }


def test_while_asterisk_decides_membership_nothing_is_removed() -> None:
    current = [{"memberId": "PJSIP/1", "queues": {"billing": {}}}]
    changes, removed = plan_sync(CONFIG, current, authoritative=False)
    assert not any(isinstance(c, Retain) for c in changes)
    operator = next(c for c in changes if isinstance(c, Patch) and c.kind == "operator")
    assert "billing" not in operator.set["queues"]
    assert removed == []
