"""Liveness of the backing services, as /healthz reports it."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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
