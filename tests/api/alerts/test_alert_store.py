"""The rule store on the demo's SQLite: times come back as UTC, like PostgreSQL's."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from api.alerts.rules import RuleKind, RuleSpec
from api.alerts.store import RuleStore
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate


async def test_sqlite_gives_rule_times_back_in_utc(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await migrate(url)
    engine = make_engine(url)
    try:
        store = RuleStore(engine)
        created = await store.create(
            RuleSpec(name="Waits", kind=RuleKind.LONGEST_WAIT, threshold=60)
        )
        (listed,) = await store.list()
    finally:
        await engine.dispose()
    assert listed.updated_at is not None and listed.updated_at.tzinfo is UTC
    assert listed.updated_at == created.updated_at
