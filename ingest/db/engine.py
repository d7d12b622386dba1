"""Async engines from the URLs users write, and the one database error type.

Users and docs write ``postgresql://user:pw@host/db`` or ``sqlite:///path``; the
async engine needs the driver spelled out. Everything that reaches a log or an
exception message goes through :func:`redact_url`, so a password never does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, CompileError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "DatabaseUnavailable",
    "database_errors",
    "make_engine",
    "normalize_url",
    "redact_url",
    "session_factory",
]

# A PostgreSQL that is down or unreachable should fail a request in seconds,
# not hold it for asyncpg's default 60 s connect timeout.
CONNECT_TIMEOUT_SECONDS = 5.0
# Upper bound for one statement: the queries here are tiny, so a longer one
# means a lock or a stuck server, and the caller is better off with an error.
COMMAND_TIMEOUT_SECONDS = 30.0

_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}
_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*:)[^@/]*@")
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pass|secret)=)[^&]*", re.IGNORECASE)
_HIDDEN = "***"


class DatabaseUnavailable(Exception):
    """The database could not be reached or answered with an error.

    The message names the database with its password hidden; `reason` is the
    driver's first line alone (no URL), for places that must not name the database.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pick the async driver when none is given.

    ``postgres://`` and ``postgresql://`` become ``postgresql+asyncpg://``;
    ``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``. A URL that already
    names a driver is kept as it is.
    """
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def redact_url(url: str | URL) -> str:
    """``url`` with its password (and any password-like query value) replaced by ``***``.

    Never raises: a string that does not parse as a URL is scrubbed by pattern.
    """
    try:
        rendered = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        rendered = _USERINFO_PASSWORD.sub(rf"\1{_HIDDEN}@", str(url))
    return _QUERY_SECRET.sub(rf"\1{_HIDDEN}", rendered)


def make_engine(url: str) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url`` (see :func:`normalize_url`).

    Nothing connects here; the first query does. Dispose it with
    ``await engine.dispose()``.
    """
    parsed = normalize_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        options = {
            # A connection killed by a PostgreSQL restart is replaced, not handed out.
            "pool_pre_ping": True,
            "pool_size": 5,
            "max_overflow": 5,
            "pool_timeout": 10,
            "pool_recycle": 1800,
        }
        if parsed.get_driver_name() == "asyncpg":
            options["connect_args"] = {
                "timeout": CONNECT_TIMEOUT_SECONDS,
                "command_timeout": COMMAND_TIMEOUT_SECONDS,
                "server_settings": {"application_name": "queue-status"},
            }
    return create_async_engine(parsed, **options)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine`` whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def database_errors(engine: AsyncEngine, action: str) -> AsyncIterator[None]:
    """Turn driver and connection errors inside the block into :class:`DatabaseUnavailable`.

    ``action`` completes the sentence "cannot ..." in the message.
    """
    try:
        yield
    except (ArgumentError, CompileError):
        raise  # a statement we built wrong: our bug (a 500, traced), not an outage
    except (SQLAlchemyError, OSError) as exc:
        reason = _scrub(_describe(exc), engine.url.password)
        raise DatabaseUnavailable(
            f"cannot {action} at {redact_url(engine.url)}: {reason}", reason
        ) from exc


def _describe(exc: BaseException) -> str:
    # SQLAlchemy's own text adds the SQL and a documentation link; the driver's
    # first line is what an operator needs.
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    detail = lines[0] if lines else ""
    return f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__


def _scrub(text: str, password: str | None) -> str:
    # Driver messages do not quote the password today; this keeps it that way.
    return text.replace(password, _HIDDEN) if password else text
