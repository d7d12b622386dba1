"""Checks and normal forms of the ingest's setting values: pure functions, used by
`ingest.config` (the API's own are `api.settings_checks`).

Each raises ValueError with a message that says what is wrong without quoting
the value (a URL may carry a password), so `load_settings` can print it as
one line naming the setting.
"""

from __future__ import annotations

from importlib.util import find_spec
from urllib.parse import urlsplit

# Redis glob metacharacters (KEYS/SCAN MATCH, SORT GET): a prefix must never be a pattern.
_GLOB = frozenset("*?[]\\^")
_LINE_BREAKS = frozenset("\r\n\x00")
MAX_PREFIX_LENGTH = 100


class SettingProblem(ValueError):
    """A check across settings failed; `setting` is the one to change."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def no_line_breaks(value: str) -> str:
    """Refuse CR, LF and NUL (they would split an AMI action or a header)."""
    if any(ch in _LINE_BREAKS for ch in value):
        raise ValueError(
            "must not contain CR, LF or NUL characters (a secret file's trailing newline?)"
        )
    return value


def host_name(value: str) -> str:
    """A host name or address to listen on or connect to: trimmed, printable, no spaces."""
    host = value.strip()
    if not host or not host.isprintable() or any(ch.isspace() for ch in host):
        raise ValueError("must be a host name or address, without spaces")
    return host


def key_prefix(value: str) -> str:
    """A Redis key prefix: printable, no spaces, no glob characters."""
    if len(value) > MAX_PREFIX_LENGTH:
        raise ValueError(f"must be at most {MAX_PREFIX_LENGTH} characters")
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise ValueError("must be printable, without spaces or control characters")
    if any(ch in _GLOB for ch in value):
        raise ValueError("must not contain the glob characters * ? [ ] \\ ^")
    return value


def redis_url(url: str) -> None:
    """redis://[:password@]host[:port][/db], rediss://…, or unix:///path."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number 1-65535") from None
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must start with redis://, rediss:// or unix://")
    if scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs the socket's path")
        return
    if not parts.hostname:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("the port is not a number 1-65535")
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise ValueError("the database (the path) must be a number, e.g. /0")
    from redis.connection import parse_url  # what Redis.from_url will do with it

    try:
        parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError:
        raise ValueError("has an option redis-py cannot read") from None


def redis_database(url: str) -> int:
    """The database number of a valid redis:// URL (0 when it names none)."""
    database = urlsplit(url).path.lstrip("/")
    return int(database) if database else 0


def redis_host_port(url: str) -> tuple[str, int]:
    """The host and port of a valid redis:// URL (6379 when it names none)."""
    parts = urlsplit(url)
    return (parts.hostname or "127.0.0.1", parts.port or 6379)


def database_url(url: str) -> None:
    """A URL SQLAlchemy can open with an async driver (postgresql://…, sqlite:///…)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from ingest.db.engine import normalize_url

    if not url.startswith(("postgresql", "postgres://", "sqlite")):
        raise ValueError("must be a postgresql:// or sqlite:/// URL")
    try:
        parsed = normalize_url(url)
    except (ArgumentError, ValueError):
        raise ValueError("is not a URL SQLAlchemy can read (is the port a number?)") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError("the port is not a number 1-65535")
    try:
        dialect = make_url(parsed).get_dialect()
    except (NoSuchModuleError, ImportError):
        raise ValueError("names a database driver that is not installed") from None
    if not getattr(dialect, "is_async", False):
        raise ValueError("needs an asyncio driver (postgresql+asyncpg or sqlite+aiosqlite)")
    if parsed.get_driver_name() == "aiosqlite" and find_spec("aiosqlite") is None:
        # SQLAlchemy imports the driver only when an engine is made: say it now, in one line.
        raise ValueError("needs aiosqlite for SQLite: pip install 'queue-status[demo]'")
