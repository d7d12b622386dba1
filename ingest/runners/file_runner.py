"""Feed a recorded AMI session through the event pipeline.

A recording is a ``.jsonl`` of ``[recv_ts, {header: value}]`` lines, the
format of the recorded traces (see `ingest.traces`): a path, or the name of
a trace (``b_single_call``) looked up as `ingest.traces` does.
Messages that one socket read completed share a timestamp; each run of
events with the same timestamp is one pipeline batch stamped with that time,
so the store sees the recording as the live consumer would have.

Action answers are not events. List answers (items repeating the action's
ActionID) can be reconciled at their place in the recording with
``snapshots=True``, as the AMI connection does live: a QueueStatus answer
with the filters it was asked with (from the recording's ``.sent.jsonl``;
without it an answer counts as unfiltered), a CoreShowChannels answer for
the channels.

    python -m ingest.runners.file_runner TRACE[.jsonl] [--snapshots] [--redis-url URL] [--prefix P]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest import traces
from ingest.ami.message import AmiMessage
from ingest.pipeline import EventPipeline
from ingest.reconcile import AsteriskSnapshot

# The list answers that carry a snapshot, by their terminating event.
_QUEUE_STATUS_COMPLETE = "QueueStatusComplete"
_CHANNELS_COMPLETE = "CoreShowChannelsComplete"


def read_recording(path: str | Path) -> list[traces.TimedMessage]:
    """The ``[recv_ts, message]`` lines of a ``.jsonl`` recording, in order."""
    return list(traces.read_jsonl(path))


def _header(message: AmiMessage, name: str) -> str | None:
    """A header's value, any letter case; the first one when repeated."""
    for key, value in message.items():
        if str(key).lower() == name.lower():
            return value[0] if isinstance(value, list) and value else str(value)
    return None


def is_unsolicited(message: AmiMessage) -> bool:
    """An event Asterisk sent on its own: it has an Event and no ActionID."""
    return _header(message, "Event") is not None and _header(message, "ActionID") is None


def stamp_ms(recv_ts: float) -> int:
    """A recording's receive time (float seconds) as the store's ms epoch."""
    return round(recv_ts * 1000)


@dataclass(frozen=True, slots=True)
class ListAnswer:
    """The items of one list answer and where it ended in the recording."""

    action_id: str
    complete: str
    """The terminating event, e.g. ``QueueStatusComplete``."""
    complete_index: int
    items: tuple[AmiMessage, ...]
    action: AmiMessage = field(default_factory=dict)
    """The action as sent, when known (its filters)."""

    def snapshot(self) -> AsteriskSnapshot | None:
        """The snapshot this answer carries; None for other lists (QueueSummary, ...)."""
        if self.complete == _QUEUE_STATUS_COMPLETE:
            return AsteriskSnapshot.from_messages(
                self.items,
                queue=_header(self.action, "Queue") or None,
                member=_header(self.action, "Member") or None,
            )
        if self.complete == _CHANNELS_COMPLETE:
            return AsteriskSnapshot.from_messages((), channels=self.items, has_queue_status=False)
        return None


def list_answers(
    messages: Sequence[traces.TimedMessage], sent: Iterable[traces.TimedMessage] = ()
) -> list[ListAnswer]:
    """Every list answer of a recording, in the order they completed."""
    actions = {_header(action, "ActionID"): action for _, action in sent}
    pending: dict[str, list[AmiMessage]] = {}
    answers: list[ListAnswer] = []
    for index, (_, message) in enumerate(messages):
        action_id = _header(message, "ActionID")
        name = _header(message, "Event")
        if action_id is None or name is None:
            continue
        if (_header(message, "EventList") or "").lower() == "complete":
            answers.append(
                ListAnswer(
                    action_id=action_id,
                    complete=name,
                    complete_index=index,
                    items=tuple(pending.pop(action_id, [])),
                    action=actions.get(action_id) or {},
                )
            )
        else:
            pending.setdefault(action_id, []).append(message)
    return answers


@dataclass(slots=True)
class FileRunResult:
    """What one run fed through the pipeline."""

    messages: int = 0
    events: int = 0
    """Unsolicited events handed to the pipeline."""
    applied: int = 0
    """Of those, events that produced patches."""
    snapshots: int = 0
    corrections: int = 0


async def run_recording(
    pipeline: EventPipeline,
    messages: Sequence[traces.TimedMessage],
    *,
    sent: Iterable[traces.TimedMessage] = (),
    snapshots: bool = False,
    start: int = 0,
    stop: int | None = None,
) -> FileRunResult:
    """Feed ``messages[start:stop]``: events in timestamp batches, optionally snapshots."""
    end = len(messages) if stop is None else min(stop, len(messages))
    at_index = (
        {answer.complete_index: answer for answer in list_answers(messages, sent)}
        if snapshots
        else {}
    )
    result = FileRunResult()
    batch: list[AmiMessage] = []
    batch_ts: float | None = None

    async def flush() -> None:
        nonlocal batch, batch_ts
        if batch and batch_ts is not None:
            result.events += len(batch)
            result.applied += await pipeline.apply(batch, now=stamp_ms(batch_ts))
        batch, batch_ts = [], None

    for index in range(start, end):
        recv_ts, message = messages[index]
        result.messages += 1
        answer = at_index.get(index)
        snapshot = answer.snapshot() if answer is not None else None
        if snapshot is not None:
            await flush()
            result.snapshots += 1
            result.corrections += await pipeline.reconcile(snapshot, now=stamp_ms(recv_ts))
            continue
        if not is_unsolicited(message):
            continue
        if batch_ts is not None and recv_ts != batch_ts:
            await flush()
        batch.append(message)
        batch_ts = recv_ts
    await flush()
    return result


async def run_file(
    pipeline: EventPipeline, path: str | Path, *, snapshots: bool = False
) -> FileRunResult:
    """Feed a ``.jsonl`` recording or a trace by name (and its ``.sent.jsonl`` when there is one)."""
    path = traces.resolve(path)
    sent_path = traces.sent_path(path)
    sent = read_recording(sent_path) if sent_path.exists() else []
    return await run_recording(pipeline, read_recording(path), sent=sent, snapshots=snapshots)


async def _main(args: argparse.Namespace) -> int:
    from redis.asyncio import Redis

    from ingest.keys import KeySchema
    from ingest.store import StateStore

    redis = Redis.from_url(args.redis_url)
    try:
        store = StateStore(redis, KeySchema(args.prefix))
        pipeline = EventPipeline(store)
        result = await run_file(pipeline, args.recording, snapshots=args.snapshots)
        counts = await store.counts()
    finally:
        await redis.aclose()
    print(
        f"{result.messages} messages, {result.events} events, {result.applied} applied, "
        f"{result.snapshots} snapshots ({result.corrections} corrections); "
        f"now {counts['operator']} operators, {counts['queue']} queues, "
        f"{counts['channel']} channels under prefix {args.prefix!r}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: replay one recording into Redis."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("recording", help="a .jsonl recording, or a trace name (b_single_call)")
    parser.add_argument("--snapshots", action="store_true", help="reconcile list answers too")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--prefix", default="replay:", help="key prefix (default: replay:)")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
