"""Load an Asterisk ``queue_log`` file into the record tables (``import-queue-log``).

The file is read line by line (never whole), parsed by `parse_queue_log`,
replayed by `QueueLogReplayer` and saved by `save_records_by_table` in batches.
At the end the calls and intervals still open are closed at the file's last
timestamp and saved too. Idempotent: records are keyed like the live ones, so
importing the same file twice writes nothing the second time.

queue_log names a member by its MemberName; `member_interfaces` reads the
realtime ``queue_members`` (name -> interface) so that imported records name
members by interface, as the live ones do. Reporting is the caller's: ``on_malformed`` gets each skipped line,
``on_progress`` gets an `ImportProgress` every ``progress_every`` lines and
once at the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.repository import load_config
from ingest.records.model import AgentInterval, Record
from ingest.records.queue_log import MalformedLine, QueueLogReplayer, parse_queue_log
from ingest.records.repository import save_records_by_table

__all__ = [
    "DEFAULT_BATCH",
    "ImportProgress",
    "ImportSummary",
    "import_queue_log",
    "member_interfaces",
]

DEFAULT_BATCH = 1000
"""Records per database transaction."""


@dataclass(slots=True)
class ImportProgress:
    """How far an import is: lines and bytes read of ``total_bytes``, since ``started``."""

    total_bytes: int
    started: float = field(default_factory=time.monotonic)
    lines: int = 0
    bytes_read: int = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the import started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Lines per second so far."""
        return self.lines / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def remaining_seconds(self) -> float | None:
        """Time left from the bytes still to read, None before there is a rate."""
        if self.bytes_read <= 0 or self.elapsed <= 0:
            return None
        left = max(0, self.total_bytes - self.bytes_read)
        return left * self.elapsed / self.bytes_read


@dataclass(slots=True)
class ImportSummary:
    """What an import did."""

    lines: int = 0
    """Lines read (blank ones included)."""
    malformed: int = 0
    calls_built: int = 0
    intervals_built: int = 0
    calls_written: int = 0
    """Rows inserted or replaced (0 for a file imported before)."""
    intervals_written: int = 0
    seconds: float = 0.0


def _lines(source: BinaryIO, progress: ImportProgress) -> Iterator[str]:
    for raw in source:
        progress.lines += 1
        progress.bytes_read += len(raw)
        # queue_log is ASCII in practice; a stray byte must not end the import.
        yield raw.decode("utf-8", errors="replace")


async def member_interfaces(engine: AsyncEngine) -> dict[str, str]:
    """MemberName -> interface from the realtime ``queue_members`` rows.

    A name given to two interfaces is left out (queue_log cannot tell them apart).
    """
    found: dict[str, set[str]] = {}
    for member in (await load_config(engine)).members:
        if member.member_name and member.member_name != member.interface:
            found.setdefault(member.member_name, set()).add(member.interface)
    return {name: next(iter(found[name])) for name in sorted(found) if len(found[name]) == 1}


async def import_queue_log(
    engine: AsyncEngine,
    path: Path,
    *,
    pbx: str = "",
    batch: int = DEFAULT_BATCH,
    members: Mapping[str, str] | None = None,
    on_malformed: Callable[[MalformedLine], None] | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    progress_every: int = 5000,
) -> ImportSummary:
    """Import ``path``; raises `OSError` if it cannot be read, `DatabaseUnavailable`.

    The file is read with ordinary blocking reads between the awaits: meant for
    the command line, where nothing else runs on the event loop. ``members``
    maps queue_log member names to interfaces (see `member_interfaces`).
    """
    summary = ImportSummary()
    replayer = QueueLogReplayer(member_interfaces=members)
    pending: list[Record] = []
    last_ms: int | None = None

    async def flush() -> None:
        intervals = sum(isinstance(r, AgentInterval) for r in pending)
        summary.calls_built += len(pending) - intervals
        summary.intervals_built += intervals
        calls_written, intervals_written = await save_records_by_table(engine, pending, pbx=pbx)
        summary.calls_written += calls_written
        summary.intervals_written += intervals_written
        pending.clear()

    with path.open("rb") as source:
        progress = ImportProgress(total_bytes=os.fstat(source.fileno()).st_size)
        for item in parse_queue_log(_lines(source, progress)):
            if isinstance(item, MalformedLine):
                summary.malformed += 1
                if on_malformed is not None:
                    on_malformed(item)
            else:
                last_ms = item.time_ms if last_ms is None else max(last_ms, item.time_ms)
                pending.extend(replayer.feed(item))
                if len(pending) >= batch:
                    await flush()
            if on_progress is not None and progress.lines % progress_every == 0:
                on_progress(progress)
        if last_ms is not None:
            pending.extend(replayer.close_all(last_ms))
        await flush()
    if on_progress is not None:
        on_progress(progress)
    summary.lines = progress.lines
    summary.seconds = progress.elapsed
    return summary
