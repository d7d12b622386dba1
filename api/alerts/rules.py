"""What an alert rule is, and the one validation every way of setting one goes through.

A rule watches a queue (or every queue) for one kind of trouble. The kinds come
in two directions: *above* kinds fire when the watched value goes over the
threshold (longest wait, callers waiting, an operator's pause), *below* kinds
when it falls under it (service level, available operators).

Hysteresis: a rule fires as soon as its condition holds, and resolves only once
the value is back past the threshold by `clear_margin` (in the rule's unit) and
has stayed there for `clear_seconds`, so a value hovering at the threshold does
not fire and resolve on every change.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from urllib.parse import urlsplit

from api.errors import ApiError
from ingest.pbxes import PBX_NAME

MAX_NAME = 100
MAX_REASON = 80
MAX_URL = 2000
MAX_WINDOW_MINUTES = 24 * 60
MAX_CLEAR_SECONDS = 3600
DEFAULT_CLEAR_SECONDS = 10
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
TEXT_PATTERN = rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"
"""A name or reason: no control character, something besides whitespace (the OpenAPI
document says the same, `api.openapi_alerts`)."""
_TEXT = re.compile(TEXT_PATTERN)
_SURROGATES = re.compile("[\ud800-\udfff]")


def _is_text(value: str) -> bool:
    return bool(_TEXT.match(value)) and not _SURROGATES.search(value)


class InvalidRule(ApiError):
    """A rule that cannot be stored: REST 422, GraphQL BAD_USER_INPUT."""

    status_code = 422


class RuleKind(Enum):
    """What a rule watches; the value is the stored spelling."""

    LONGEST_WAIT = "longest_wait"
    """The longest wait of a queue's callers, in seconds, over the threshold."""
    CALLERS_WAITING = "callers_waiting"
    """How many callers wait in a queue, over the threshold."""
    SERVICE_LEVEL = "service_level"
    """The % of calls answered within the queue's servicelevel over the last
    `window_minutes` (of the calls that entered then and were answered), under it."""
    OPERATOR_PAUSED = "operator_paused"
    """How long an operator has been paused (optionally for `reason`), in minutes, over it."""
    AVAILABLE_OPERATORS = "available_operators"
    """How many of a queue's members are idle and not paused, under the threshold."""

    @property
    def fires_below(self) -> bool:
        """True for the kinds that fire when the value falls under the threshold."""
        return self in (RuleKind.SERVICE_LEVEL, RuleKind.AVAILABLE_OPERATORS)

    @property
    def watches_operators(self) -> bool:
        """True when the subject is an operator (else a queue)."""
        return self is RuleKind.OPERATOR_PAUSED

    @property
    def unit(self) -> str:
        """The unit of the value and the threshold, for messages."""
        return {
            RuleKind.LONGEST_WAIT: "s",
            RuleKind.CALLERS_WAITING: "callers",
            RuleKind.SERVICE_LEVEL: "%",
            RuleKind.OPERATOR_PAUSED: "min",
            RuleKind.AVAILABLE_OPERATORS: "available",
        }[self]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as a client sends it (not validated yet)."""

    name: str
    kind: RuleKind
    threshold: float
    queue: str | None = None
    window_minutes: int | None = None
    reason: str | None = None
    clear_seconds: int = DEFAULT_CLEAR_SECONDS
    clear_margin: float = 0.0
    enabled: bool = True
    webhook_url: str | None = None
    pbx: str | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A stored, valid rule."""

    id: int
    name: str
    kind: RuleKind
    threshold: float
    queue: str | None
    window_minutes: int | None
    reason: str | None
    clear_seconds: int
    clear_margin: float
    enabled: bool
    webhook_url: str | None
    updated_at: datetime | None = field(default=None, compare=False)
    pbx: str | None = None
    """The PBX it watches (PBXES); None: every PBX."""

    def covers_pbx(self, pbx: str | None) -> bool:
        """Whether the rule applies on PBX `pbx` (None: the one PBX without PBXES)."""
        return self.pbx is None or pbx is None or self.pbx == pbx

    def breached(self, value: float) -> bool:
        """Whether `value` makes the rule fire."""
        if self.kind.fires_below:
            return value < self.threshold
        return value > self.threshold

    def cleared(self, value: float) -> bool:
        """Whether `value` is back past the threshold by the margin (resolution may start)."""
        if self.kind.fires_below:
            return value >= self.threshold + self.clear_margin
        return value <= self.threshold - self.clear_margin

    def covers_queue(self, queue: str) -> bool:
        """Whether the rule watches `queue`."""
        return self.queue is None or self.queue == queue


def validate(spec: RuleSpec) -> RuleSpec:
    """`spec` with text trimmed and empties as None, or InvalidRule naming the field."""
    name = spec.name.strip()
    if not _is_text(spec.name) or len(name) > MAX_NAME:
        raise InvalidRule(f"name: 1 to {MAX_NAME} characters, no control characters")
    queue = (spec.queue or "").strip() or None
    if queue is not None and not _QUEUE_NAME.match(queue):
        raise InvalidRule("queue: a queue name (letters, digits, _ . @ -), or null for every queue")
    _check_threshold(spec.kind, spec.threshold)
    window = spec.window_minutes
    if spec.kind is RuleKind.SERVICE_LEVEL:
        if window is None or not 1 <= window <= MAX_WINDOW_MINUTES:
            raise InvalidRule(
                f"windowMinutes: 1..{MAX_WINDOW_MINUTES} is required for a service-level rule"
            )
    elif window is not None:
        raise InvalidRule("windowMinutes: only a service-level rule has a window")
    reason = (spec.reason or "").strip() or None
    if reason is not None:
        if spec.kind is not RuleKind.OPERATOR_PAUSED:
            raise InvalidRule("reason: only an operator-paused rule has a reason")
        if len(reason) > MAX_REASON or not _is_text(reason):
            raise InvalidRule(f"reason: at most {MAX_REASON} characters, no control characters")
    if not 0 <= spec.clear_seconds <= MAX_CLEAR_SECONDS:
        raise InvalidRule(f"clearSeconds: 0..{MAX_CLEAR_SECONDS}")
    if not math.isfinite(spec.clear_margin) or spec.clear_margin < 0:
        raise InvalidRule("clearMargin: a number, 0 or more")
    url = (spec.webhook_url or "").strip() or None
    if url is not None:
        check_webhook_url(url, "webhookUrl")
    pbx = (spec.pbx or "").strip() or None
    if pbx is not None and not PBX_NAME.match(pbx):
        raise InvalidRule("pbx: a PBX name of PBXES, or null for every PBX")
    return RuleSpec(
        name=name,
        kind=spec.kind,
        threshold=float(spec.threshold),
        queue=queue,
        window_minutes=window,
        reason=reason,
        clear_seconds=spec.clear_seconds,
        clear_margin=float(spec.clear_margin),
        enabled=spec.enabled,
        webhook_url=url,
        pbx=pbx,
    )


def _check_threshold(kind: RuleKind, threshold: float) -> None:
    if not math.isfinite(threshold) or threshold < 0:
        raise InvalidRule("threshold: a number, 0 or more")
    if kind is RuleKind.SERVICE_LEVEL and threshold > 100:
        raise InvalidRule("threshold: a service level is a percentage, 0..100")
    if kind is RuleKind.AVAILABLE_OPERATORS and threshold == 0:
        raise InvalidRule("threshold: fewer than 0 available operators can never happen; use 1+")


def check_webhook_url(url: str, what: str) -> str:
    """`url` when it is an absolute http(s) URL with a host, else InvalidRule naming `what`
    (never echoing the URL: it may hold a credential)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError:
        raise InvalidRule(f"{what}: not a valid URL") from None
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not host:
        raise InvalidRule(f"{what}: an http:// or https:// URL with a host (at most {MAX_URL})")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidRule(f"{what}: no spaces or control characters")
    return url


def parse_webhook_urls(raw: str) -> tuple[str, ...]:
    """ALERT_WEBHOOK_URLS: a comma list of http(s) URLs; ValueError names the entry only."""
    urls = [item.strip() for item in raw.split(",") if item.strip()]
    for index, url in enumerate(urls):
        try:
            check_webhook_url(url, f"entry {index + 1}")
        except InvalidRule as exc:
            raise ValueError(exc.message) from None
    return tuple(dict.fromkeys(urls))


def redacted_url(url: str) -> str:
    """What logs say of a webhook URL: scheme and host only (a path or query may be the
    secret, as Slack's are; user info is one)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/…"
    except ValueError:
        return "<invalid URL>"
