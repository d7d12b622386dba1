"""Liveness of the backing services (and of the audit writer, the call records and the
alerts), as /healthz reports it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.alerts.health import AlertHealth
from api.audit import AuditStats
from ingest.db.repository import DatabaseUnavailable


async def database_ping(engine: AsyncEngine, timeout: float = 2.0) -> None:
    """`SELECT 1`, or DatabaseUnavailable (message without credentials)."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUnavailable(f"no answer within {timeout:g} s") from None
    except Exception as exc:  # any driver error means "down" here
        raise DatabaseUnavailable(type(exc).__name__) from None


def add_audit(details: dict[str, Any], audit: AuditStats) -> None:
    """Add the audit writer's `audit` section to /healthz's details.

    An audit writer that cannot write (the database down or absent) makes the
    overall status `degraded`, never `down`: it alone never makes /healthz 503
    (its rows wait in the buffer).
    """
    section = audit.as_json()
    details["audit"] = section
    if section["status"] != "ok" and details.get("status") == "ok":
        details["status"] = "degraded"


def add_records(details: dict[str, Any], records: dict[str, Any]) -> None:
    """Add the call records' `records` section; PostgreSQL unable to take them makes the
    status `degraded`, never `down` (they wait in the Redis buffer)."""
    details["records"] = records
    if records.get("status") != "ok" and details.get("status") == "ok":
        details["status"] = "degraded"


def add_alerts(details: dict[str, Any], alerts: AlertHealth) -> None:
    """Add the alert engine's `alerts` section; rules that cannot be read make the status
    `degraded`, never `down` (the engine keeps the rules it has and retries)."""
    section = alerts.as_json()
    details["alerts"] = section
    if section["status"] != "ok" and details.get("status") == "ok":
        details["status"] = "degraded"
