"""`queue-status import-queue-log FILE`: Asterisk's queue_log into the record tables.

The work is `ingest.records.importer.import_queue_log`; this is its terminal
side: member names mapped to interfaces by the realtime ``queue_members``,
one line on stderr per malformed input line skipped, a progress line
(lines, lines/s, time left) rewritten in place when stderr is a terminal, and
a summary line on stdout at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from api.settings import Settings, SettingsError
from ingest.db.engine import DatabaseUnavailable, make_engine
from ingest.records.importer import (
    ImportProgress,
    ImportSummary,
    import_queue_log,
    member_interfaces,
)
from ingest.records.queue_log import MalformedLine

__all__ = ["ProgressLine", "run_import"]

_CLEAR = "\r\033[K"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """A one-line progress display on a terminal, rewritten at most every ``interval`` s."""

    def __init__(self, stream: TextIO, *, interval: float = 0.2) -> None:
        self._stream = stream
        self._interval = interval
        self._shown_at = 0.0
        self._visible = False

    def show(self, progress: ImportProgress) -> None:
        """Redraw the line (throttled)."""
        now = time.monotonic()
        if now - self._shown_at < self._interval:
            return
        self._shown_at = now
        done = progress.bytes_read / progress.total_bytes if progress.total_bytes else 1.0
        left = progress.remaining_seconds
        eta = _duration(left) if left is not None else "?"
        self._stream.write(
            f"{_CLEAR}{progress.lines:,} lines  {progress.rate:,.0f} lines/s  "
            f"{done:.0%}  {eta} left"
        )
        self._stream.flush()
        self._visible = True

    def clear(self) -> None:
        """Erase the line (before another message, and at the end)."""
        if self._visible:
            self._stream.write(_CLEAR)
            self._stream.flush()
            self._visible = False


def _summary(path: Path, summary: ImportSummary) -> str:
    return (
        f"Imported {path}: {summary.lines:,} lines read, "
        f"{summary.calls_written + summary.intervals_written:,} records written "
        f"({summary.calls_written:,} calls, {summary.intervals_written:,} intervals; "
        f"{summary.calls_built + summary.intervals_built:,} built), "
        f"{summary.malformed:,} malformed lines skipped, in {summary.seconds:.1f} s"
    )


def run_import(settings: Settings, file: str, *, pbx: str, batch: int) -> int:
    """Run the import; a setting, file or database problem raises `SettingsError`."""
    path = Path(file)
    if not path.is_file():
        raise SettingsError(f"Invalid setting FILE: {file} is not a readable file")
    progress = ProgressLine(sys.stderr) if sys.stderr.isatty() else None

    def malformed(line: MalformedLine) -> None:
        if progress is not None:
            progress.clear()
        print(f"line {line.number} skipped: {line.reason}", file=sys.stderr)

    async def run() -> ImportSummary:
        engine = make_engine(settings.database_url.get_secret_value())
        try:
            members = await member_interfaces(engine)
            return await import_queue_log(
                engine,
                path,
                pbx=pbx,
                batch=batch,
                members=members,
                on_malformed=malformed,
                on_progress=progress.show if progress is not None else None,
            )
        finally:
            await engine.dispose()

    try:
        summary = asyncio.run(run())
    except DatabaseUnavailable as exc:
        hint = ""
        if "does not exist" in exc.reason or "no such table" in exc.reason:
            hint = " (run queue-status migrate first)"
        raise SettingsError(
            f"cannot import: database unavailable (DATABASE_URL): {exc.reason}{hint}"
        ) from None
    except OSError as exc:
        raise SettingsError(f"Invalid setting FILE: cannot read {file}: {exc.strerror}") from None
    finally:
        if progress is not None:
            progress.clear()
    print(_summary(path, summary), flush=True)
    return 0
