"""The service's settings: the ingest's (`ingest.config`) and the API's own, read once
from the environment and `.env`, then injected.

`load_settings` builds the one validated `Settings` every subcommand uses and
reports every bad setting on one line naming it (never its value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode
from pydantic_settings import SettingsError as SourceError

from api import settings_checks as checks
from api.alerts.rules import parse_webhook_urls
from ingest.actions.values import EXTENSION_OR_CHANNEL_PATTERN
from ingest.config import IngestSettings
from ingest.config_checks import SettingProblem, host_name
from ingest.pbxes import PBX_NAME
from ingest.records.kpi.periods import site_zone


class Role(IntEnum):
    """What a token may do; a higher role includes the lower ones."""

    VIEWER = 1
    SUPERVISOR = 2
    ADMIN = 3


PbxScope = Mapping[str, frozenset[str] | None]
"""A token's PBX-qualified scope entries: PBX name → its queues (None: all of them)."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One bearer token: the role it grants, the queues it is scoped to (None: every
    queue), the PBXes (`pbxes`, None: no `pbx/…` entry) and the supervisor's own
    extension for listening in (the token is secret)."""

    secret: str
    role: Role
    queues: frozenset[str] | None = None
    """Bare queue entries (on every PBX); None: everything (then `pbxes` is None)."""
    extension: str | None = None
    pbxes: PbxScope | None = None
    """`pbx/queue` and `pbx/*` entries; with them, a PBX named nowhere is out of scope
    unless a bare queue entry applies."""

    def __repr__(self) -> str:  # never show the token itself
        return f"ApiToken(role={self.role.name.lower()}, queues={scope_label(self.queues, self.pbxes)})"


def scope_label(queues: frozenset[str] | None, pbxes: PbxScope | None) -> str:
    """A scope as API_TOKENS spells it (`*` for everything), sorted."""
    if queues is None and pbxes is None:
        return "*"
    entries = sorted(queues or ())
    for pbx, own in sorted((pbxes or {}).items()):
        entries += [f"{pbx}/*"] if own is None else [f"{pbx}/{name}" for name in sorted(own)]
    return "+".join(entries)


# The form the console dials (`ingest.actions.values`): refused here, not at the first listen.
_EXTENSION = re.compile(EXTENSION_OR_CHANNEL_PATTERN)
_SCOPE_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_SCOPE_PBX = re.compile(PBX_NAME.pattern)


def parse_api_tokens(raw: str) -> tuple[ApiToken, ...]:
    """Parse `role:token[:queue1+queue2[:extension]],…` (roles: viewer, supervisor, admin).

    No queue field (or an empty one, or `*`): every queue. A queue entry may name its
    PBX (`east/sales`, `east/*` for all of east's queues); a bare `sales` is that
    queue on every PBX, and with a PBX-qualified entry a PBX named by none is out
    of the token's scope (unless a bare queue applies). The extension is the
    supervisor's own phone for listening in: a bare extension (`1009`, dialled as
    `PJSIP/1009`) or a channel (`PJSIP/1009`, `Local/1009@from-internal`). Tokens
    therefore cannot contain `:`. Raises ValueError with a message that names the
    entry but never echoes a token.
    """
    tokens: list[ApiToken] = []
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        fields = item.split(":")
        if len(fields) < 2 or not fields[1].strip():
            raise ValueError(f"entry {index + 1} must look like role:token[:queues[:extension]]")
        if len(fields) > 4:
            raise ValueError(
                f"entry {index + 1} has more than 4 fields (role:token:queues:extension); "
                "a token cannot contain ':'"
            )
        role_name, secret = fields[0], fields[1]
        try:
            role = Role[role_name.strip().upper()]
        except KeyError:
            raise ValueError(
                f"entry {index + 1} has unknown role {role_name.strip()[:20]!r} "
                "(use viewer, supervisor or admin)"
            ) from None
        secret = secret.strip()
        # A token travels in an Authorization header: it cannot hold spaces or controls.
        if not secret.isprintable() or any(ch.isspace() for ch in secret):
            raise ValueError(f"entry {index + 1} has a space or control character in its token")
        if any(secret == seen.secret for seen in tokens):
            raise ValueError(f"entry {index + 1} repeats the token of another entry")
        queues, pbxes = _scope(fields[2] if len(fields) > 2 else "", index)
        extension = fields[3].strip() if len(fields) > 3 else ""
        if extension and not _EXTENSION.match(extension):
            raise ValueError(
                f"entry {index + 1} has an invalid extension (e.g. 1009 or PJSIP/1009)"
            )
        tokens.append(
            ApiToken(
                secret=secret,
                role=role,
                queues=queues,
                extension=extension or None,
                pbxes=pbxes,
            )
        )
    return tuple(tokens)


def _scope(field: str, index: int) -> tuple[frozenset[str] | None, PbxScope | None]:
    """The bare queues and the PBX-qualified entries of a token's third field
    ((None, None) for everything)."""
    field = field.strip()
    if field in ("", "*"):
        return None, None
    bare: set[str] = set()
    pbxes: dict[str, set[str] | None] = {}
    for entry in (name.strip() for name in field.split("+")):
        pbx, slash, name = entry.rpartition("/") if "/" in entry else ("", "", entry)
        if slash:
            if not _SCOPE_PBX.match(pbx):
                raise ValueError(
                    f"entry {index + 1} has an invalid PBX name in its scope "
                    "(pbx/queue or pbx/*: a-z 0-9 _ -)"
                )
            if name == "*":
                pbxes[pbx] = None
                continue
        if not _SCOPE_QUEUE.match(name):
            raise ValueError(
                f"entry {index + 1} has an invalid queue name in its scope "
                "(queue1+queue2 or pbx/queue: letters, digits, _ . @ -)"
            )
        if not slash:
            bare.add(name)
        elif pbxes.get(pbx, set()) is not None:
            pbxes.setdefault(pbx, set()).add(name)  # type: ignore[union-attr]
    if not pbxes:
        return frozenset(bare), None
    frozen = {pbx: None if own is None else frozenset(own) for pbx, own in pbxes.items()}
    return frozenset(bare), MappingProxyType(frozen)


class Settings(IngestSettings):
    """Every knob of the service. Names match the environment variables."""

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    # Seconds a client may leave what we send unread (a wallboard that stopped reading,
    # a dead path) before its connection is cut: it never holds a socket forever.
    client_write_timeout: float = Field(default=30.0, gt=0)

    api_tokens: SecretStr = SecretStr("")
    # Browser origins (scheme://host[:port]), normalised as browsers send them.
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:4200"]
    # Host names the server answers to, beside loopback names, HOST and the hosts of
    # CORS_ORIGINS (DNS rebinding: a foreign name pointed at this address is refused).
    allowed_hosts: Annotated[list[str], NoDecode] = []
    # Bearer token /metrics asks for (empty: /metrics is open).
    metrics_token: SecretStr = SecretStr("")
    # Largest request body accepted (bytes); larger ones get 413 before they are read.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)

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
    # Query answers kept per (document, variables, scope, store version): entries (0: off)
    # and bytes (`api.graphql.answers`).
    graphql_answer_cache: int = Field(default=1000, ge=0, le=1_000_000)
    graphql_answer_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
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

    # Supervisor actions (QueuePause, QueueAdd, …): seconds to wait for the event that
    # shows the change before answering `pending: true`.
    action_confirm_timeout: float = Field(default=2.0, ge=0, le=30)
    # Actions made where no ingest leads (an `api` process, a standby) are relayed to the
    # elected ingest through Redis: seconds one waits to be taken before it is refused
    # (503) and never run; once taken, its answer is awaited as long as the leader's own
    # wait may last (api/action_relay.py).
    action_relay_timeout: float = Field(default=5.0, gt=0, le=60)
    # Pause reasons offered on the board; when set, only these are accepted.
    pause_reasons: Annotated[list[str], NoDecode] = []
    # Audit rows waiting for PostgreSQL (an outage never blocks an action); beyond
    # this many the oldest are dropped, counted and logged.
    audit_buffer_size: int = Field(default=10_000, ge=10, le=1_000_000)

    # Alerts (api/alerts, README "Alerts"): seconds between evaluations beside the one
    # after each change batch; webhooks every alert is POSTed to (comma list, secret: a
    # URL may hold a credential), attempts, first retry delay (doubling), timeout, and
    # the most deliveries waiting.
    alert_evaluate_interval: float = Field(default=5.0, gt=0, le=3600)
    alert_webhook_urls: SecretStr = SecretStr("")
    alert_webhook_attempts: int = Field(default=5, ge=1, le=20)
    alert_webhook_backoff: float = Field(default=1.0, gt=0, le=600)
    alert_webhook_timeout: float = Field(default=5.0, gt=0, le=120)
    alert_webhook_queue: int = Field(default=1000, ge=1, le=1_000_000)
    # KPIs from the call records (api/stats.py): the site's IANA time zone ("today",
    # buckets aligned to its midnight) and the wait under which an abandon is "short".
    site_timezone: str = "UTC"
    short_abandon_seconds: int = Field(default=5, ge=0, le=3600)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return host_name(value)

    @field_validator("site_timezone")
    @classmethod
    def _site_timezone(cls, value: str) -> str:
        site_zone(value)
        return value.strip()

    @field_validator("api_tokens")
    @classmethod
    def _tokens_parse(cls, value: SecretStr) -> SecretStr:
        parse_api_tokens(value.get_secret_value())
        return value

    @field_validator("alert_webhook_urls")
    @classmethod
    def _webhook_urls(cls, value: SecretStr) -> SecretStr:
        parse_webhook_urls(value.get_secret_value())
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token.isprintable() or any(ch.isspace() for ch in token):
            raise ValueError("must not contain spaces or control characters")
        return value

    @field_validator("pause_reasons", mode="before")
    @classmethod
    def _split_reasons(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("pause_reasons")
    @classmethod
    def _reasons(cls, value: list[str]) -> list[str]:
        for reason in value:
            if len(reason) > 80 or not reason.isprintable():
                raise ValueError("each reason must be at most 80 printable characters")
        return list(dict.fromkeys(value))

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # One spelling (browsers': no trailing slash, no default port) for CORS, the
        # write guard and the WebSocket origin check alike.
        return list(dict.fromkeys(checks.origin(item) for item in value))

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(checks.host_pattern(item) for item in value))

    @model_validator(mode="after")
    def _exposed_tokens(self) -> Settings:
        """Beyond loopback, a token is all that stands between a stranger and the writes."""
        if self.host_is_loopback:
            return self
        for index, token in enumerate(self.tokens):
            try:
                checks.exposed_token(token.secret, f"entry {index + 1}'s token")
            except ValueError as exc:
                raise SettingProblem("api_tokens", str(exc)) from None
        metrics = self.metrics_token.get_secret_value()
        if metrics:
            try:
                checks.exposed_token(metrics, "the token")
            except ValueError as exc:
                raise SettingProblem("metrics_token", str(exc)) from None
        return self

    @property
    def tokens(self) -> tuple[ApiToken, ...]:
        """The parsed API tokens."""
        return parse_api_tokens(self.api_tokens.get_secret_value())

    @property
    def webhook_urls(self) -> tuple[str, ...]:
        """ALERT_WEBHOOK_URLS, parsed."""
        return parse_webhook_urls(self.alert_webhook_urls.get_secret_value())

    @property
    def host_is_loopback(self) -> bool:
        """True when the server only listens on this machine."""
        return checks.is_loopback(self.host)

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """`Host` names answered beside the loopback ones: HOST, the hosts of
        CORS_ORIGINS and ALLOWED_HOSTS (`*` or `*.domain` patterns included)."""
        names = [checks.split_host(self.host) or self.host]
        names += [host for o in self.cors_origins if (host := checks.origin_host(o))]
        names += self.allowed_hosts
        return tuple(dict.fromkeys(names))

    def secrets(self) -> list[str]:
        """Every secret value, so log redaction can hide them wherever they appear."""
        values = [self.metrics_token.get_secret_value()]
        values += [token.secret for token in self.tokens]
        values += list(self.webhook_urls)
        return super().secrets() + [value for value in values if value]


class SettingsError(Exception):
    """Settings could not be loaded; the message names the setting, never its value."""


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and `.env`, plus explicit overrides.

    Raises SettingsError with one line naming every bad setting (never a value).
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            cause = (error.get("ctx") or {}).get("error")
            setting = getattr(cause, "setting", None)  # SettingProblem, PbxSettingError
            parts = error["loc"] or ((setting,) if isinstance(setting, str) else ())
            name = ".".join(str(part) for part in parts).upper() or "SETTINGS"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"Invalid setting {name}: {message}")
        raise SettingsError("; ".join(problems)) from None
    except SourceError as exc:
        # A value pydantic-settings could not decode; its message names the field only.
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "SETTINGS"
        raise SettingsError(f"Invalid setting {field.upper()}: cannot be parsed") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the .env file: {type(exc).__name__}") from None
