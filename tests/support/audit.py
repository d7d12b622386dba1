"""Audit entries for tests: the n-th one, one second apart, over three queues."""

from __future__ import annotations

from typing import Any

from api.audit import AuditEntry
from api.auth import fingerprint

TOKEN = "adm-secret-token-0123456789abcdef"
"""The admin token the entries were made with (only its fingerprint is in them)."""
T0 = 1_764_670_000_000
"""2025-12-02T10:06:40Z, the time of entry 0."""


def entry(n: int, **changes: Any) -> AuditEntry:
    """The n-th entry: at T0 + n s, queues sales/support/billing and members PJSIP/1000..1002
    in turn, a pause by an admin that Asterisk accepted."""
    values: dict[str, Any] = {
        "at_ms": T0 + n * 1000,
        "role": "admin",
        "token_fingerprint": fingerprint(TOKEN),
        "scope": "*",
        "action": "pauseOperator",
        "arguments": {"memberId": f"PJSIP/100{n % 3}", "queue": "sales", "reason": "lunch"},
        "outcome": "ok",
        "queue": ("sales", "support", "billing")[n % 3],
        "member_id": f"PJSIP/100{n % 3}",
        "via": "ami",
        "asterisk_message": "Interface paused successfully",
        "duration_ms": 12,
    }
    values.update(changes)
    return AuditEntry(**values)
