"""Settings, read once from the environment and `.env`, then injected."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Role(IntEnum):
    """What a token may do; a higher role includes the lower ones."""

    VIEWER = 1
    SUPERVISOR = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One bearer token and the role it grants (the token itself is secret)."""

    secret: str
    role: Role

    def __repr__(self) -> str:  # never show the token itself
        return f"ApiToken(role={self.role.name.lower()})"


def parse_api_tokens(raw: str) -> tuple[ApiToken, ...]:
    """Parse `role:token,role:token` (roles: viewer, supervisor, admin).

    Raises ValueError with a message that names the bad role but never echoes
    a token.
    """
    tokens: list[ApiToken] = []
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        role_name, sep, secret = item.partition(":")
        if not sep or not secret.strip():
            raise ValueError(f"entry {index + 1} must look like role:token")
        try:
            role = Role[role_name.strip().upper()]
        except KeyError:
            raise ValueError(
                f"entry {index + 1} has unknown role {role_name.strip()!r} "
                "(use viewer, supervisor or admin)"
            ) from None
        tokens.append(ApiToken(secret=secret.strip(), role=role))
    return tuple(tokens)


class Settings(BaseSettings):
    """Every knob of the service. Names match the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_key_prefix: str = ""
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")

    ami_enabled: bool = True
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = "admin"
    ami_secret: SecretStr = SecretStr("")
    ami_reconcile_interval: float = Field(default=60.0, gt=0)
    ami_ping_interval: float = Field(default=10.0, gt=0)

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    # Seconds a client may leave what we send unread (a wallboard that stopped reading,
    # a dead path) before its connection is cut: it never holds a socket forever.
    client_write_timeout: float = Field(default=30.0, gt=0)
    log_file: str = "logs/app.log"
    log_level: str = "INFO"

    api_tokens: SecretStr = SecretStr("")
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:4200"]

    # GraphQL: documentation surfaces (turn both off in production).
    graphql_introspection: bool = True
    graphiql: bool = True
    # The legacy subscriptions-transport-ws protocol ("graphql-ws"), beside graphql-transport-ws.
    graphql_legacy_protocol: bool = True
    # Query limits: nesting depth, lexical tokens (comments included), aliases.
    graphql_max_depth: int = Field(default=10, ge=1, le=100)
    graphql_max_tokens: int = Field(default=2000, ge=10)
    graphql_max_aliases: int = Field(default=30, ge=0)
    # Parsed and validated documents kept in memory (LRU, per process).
    graphql_cache_size: int = Field(default=256, ge=1, le=100_000)
    # WebSockets: open connections per process and per client address.
    graphql_ws_max_connections: int = Field(default=1000, ge=1)
    graphql_ws_max_connections_per_client: int = Field(default=20, ge=1)
    graphql_ws_max_subscriptions: int = Field(default=20, ge=1)
    graphql_ws_init_timeout: float = Field(default=10.0, gt=0)
    # Seconds between "ka" keep-alive messages of the legacy protocol.
    graphql_ws_keepalive: float = Field(default=15.0, gt=0)
    # Updates one subscriber may have waiting; more and it is closed as too slow.
    graphql_subscriber_buffer: int = Field(default=500, ge=1)
    # Identical subscriptions served as one group, their batches coalesced in a short
    # window (api/graphql/fanout.py); off: every subscription runs its own stream.
    graphql_subscription_fanout: bool = True

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("postgresql", "postgres://", "sqlite")):
            raise ValueError("must be a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("api_tokens")
    @classmethod
    def _tokens_parse(cls, value: SecretStr) -> SecretStr:
        parse_api_tokens(value.get_secret_value())
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def tokens(self) -> tuple[ApiToken, ...]:
        """The parsed API tokens."""
        return parse_api_tokens(self.api_tokens.get_secret_value())

    @property
    def host_is_loopback(self) -> bool:
        """True when the server only listens on this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def log_path(self) -> Path | None:
        """Where the log file goes, or None when file logging is off."""
        return Path(self.log_file) if self.log_file else None

    def secrets(self) -> list[str]:
        """Every secret value, so log redaction can hide them wherever they appear."""
        values = [self.ami_secret.get_secret_value()]
        values += [token.secret for token in self.tokens]
        for url in (self.redis_url, self.database_url):
            password = _url_password(url.get_secret_value())
            if password:
                values.append(password)
        return [value for value in values if value]


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


class SettingsError(Exception):
    """Settings could not be loaded; the message names the setting, never its value."""


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and `.env`, plus explicit overrides.

    Raises SettingsError with one line per bad setting, naming it.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            lines.append(f"Invalid setting {name}: {error['msg']}")
        raise SettingsError("; ".join(lines)) from None
