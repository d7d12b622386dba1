"""One audit entry: what a supervisor action did, as recorded and as read back.

`AuditEntry` is what the action code hands to `api.audit.AuditTrail.record`;
`entry_row` turns it into a row of `queue_status_audit` (`ingest.db.models.AuditRecord`)
and `stored_entry` turns a row back. The conversion never raises: arguments
that are not JSON become JSON (`str()` of what is not), keys that look like a
credential are masked, and an oversized argument object is replaced by a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table

from ingest.db.models import AuditRecord

AUDIT_TABLE: Table = AuditRecord.__table__  # type: ignore[assignment]
"""`queue_status_audit`."""

OUTCOMES = ("ok", "pending", "refused", "rejected", "failed")
"""ok; pending (sent, not yet confirmed); refused (by us: role, scope, validation);
rejected (by Asterisk: Response: Error); failed (AMI down, a timeout, a database error)."""

MAX_ARGUMENTS_BYTES = 8 * 1024
"""Larger argument objects are replaced by `{"truncated": true, "bytes": n}`."""

_SECRET_KEYS = ("token", "secret", "password", "authorization")
_MASK = "***"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True)
class AuditEntry:
    """One supervisor action, accepted or refused (by us or by Asterisk).

    `token_fingerprint` is the first 8 hex digits of the token's SHA-256
    (`api.auth.fingerprint`), never the token; `scope` is `*` or `q1+q2`;
    `action` the GraphQL mutation name (pauseOperator, addQueueMember, …);
    `arguments` what the caller sent (memberId, queue, reason, penalty, …),
    never a secret; `outcome` one of `OUTCOMES`; `via` `ami` or `realtime`.
    """

    at_ms: int
    role: str | None
    token_fingerprint: str | None
    scope: str
    action: str
    arguments: dict[str, Any] = field(hash=False)
    outcome: str
    queue: str | None = None
    member_id: str | None = None
    via: str | None = None
    asterisk_message: str | None = None
    message: str | None = None
    duration_ms: int = 0


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the table holds it: with its row id."""

    id: int
    entry: AuditEntry

    @property
    def at(self) -> datetime:
        """When the action happened (UTC)."""
        return ms_to_datetime(self.entry.at_ms)

    def as_json(self) -> dict[str, Any]:
        """The REST shape: camelCase, `at` as ISO 8601 (UTC), like GraphQL's DateTime."""
        entry = self.entry
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "role": entry.role,
            "tokenFingerprint": entry.token_fingerprint,
            "scope": entry.scope,
            "action": entry.action,
            "queue": entry.queue,
            "memberId": entry.member_id,
            "arguments": entry.arguments,
            "outcome": entry.outcome,
            "via": entry.via,
            "asteriskMessage": entry.asterisk_message,
            "message": entry.message,
            "durationMs": entry.duration_ms,
        }


def ms_to_datetime(ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC datetime (exact, no float)."""
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(moment: datetime) -> int:
    """An aware (or naive, taken as UTC) datetime as milliseconds since the epoch."""
    return (as_utc(moment) - _EPOCH) // _MS


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken as UTC (SQLite gives those back)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def entry_row(entry: AuditEntry) -> dict[str, Any]:
    """The column values of `entry` (no id: the database numbers rows). Never raises."""
    return {
        "at": ms_to_datetime(max(0, min(_int(entry.at_ms), _MAX_MS))),
        "role": _role(entry.role),
        "token_fingerprint": _fingerprint(entry.token_fingerprint),
        "scope": _text(entry.scope) or "*",
        "action": _text(entry.action) or "unknown",
        "queue": _text(entry.queue),
        "member_id": _text(entry.member_id),
        "arguments": json_arguments(entry.arguments),
        "outcome": _text(entry.outcome) or "unknown",
        "via": _text(entry.via),
        "asterisk_message": _text(entry.asterisk_message),
        "message": _text(entry.message),
        "duration_ms": max(0, min(_int(entry.duration_ms), 2**31 - 1)),
    }


def stored_entry(row: Any) -> StoredEntry:
    """A `queue_status_audit` row (a SQLAlchemy Row) as a `StoredEntry`."""
    arguments = row.arguments if isinstance(row.arguments, dict) else {"value": row.arguments}
    return StoredEntry(
        id=int(row.id),
        entry=AuditEntry(
            at_ms=datetime_to_ms(row.at),
            role=row.role,
            token_fingerprint=row.token_fingerprint,
            scope=row.scope,
            action=row.action,
            arguments=arguments,
            outcome=row.outcome,
            queue=row.queue,
            member_id=row.member_id,
            via=row.via,
            asterisk_message=row.asterisk_message,
            message=row.message,
            duration_ms=int(row.duration_ms),
        ),
    )


def json_arguments(arguments: Any) -> dict[str, Any]:
    """`arguments` as a JSON object: what is not JSON becomes its `str()`, a key that
    names a credential is masked, more than MAX_ARGUMENTS_BYTES becomes a note."""
    try:
        encoded = orjson.dumps(_masked(arguments), default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError):  # e.g. a nesting deeper than orjson allows
        return {"unrecordable": True}
    if len(encoded) > MAX_ARGUMENTS_BYTES:
        return {"truncated": True, "bytes": len(encoded)}
    decoded = orjson.loads(encoded)
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def _masked(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and depth < 8:
        return {
            key: _MASK
            if isinstance(key, str) and any(s in key.lower() for s in _SECRET_KEYS)
            else _masked(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple) and depth < 8:
        return [_masked(item, depth + 1) for item in value]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "")  # PostgreSQL text cannot hold NUL


def _role(value: Any) -> str | None:
    # A Role (an IntEnum, whose str() is its number) by its name, as API_TOKENS spells it.
    name = getattr(value, "name", None)
    return name.lower() if isinstance(name, str) else _text(value)


def _fingerprint(value: Any) -> str | None:
    text = _text(value)
    return text[:8] if text else None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
