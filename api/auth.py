"""The one access policy, for REST, GraphQL over HTTP and GraphQL over WebSocket.

- No `API_TOKENS` and listening on loopback: everything is open (the runbook
  uses the writes with plain curl).
- No tokens and listening on another address: reads open, writes refused with
  a message saying how to configure tokens.
- With tokens: writes need `Authorization: Bearer <token>` of a role allowed
  to do it (supervisor sets status; admin resyncs and clears). Reads stay open
  unless a `viewer` token is configured, which marks reads as protected.
  GraphQL introspection and `__typename` follow the read rule too.
- `/metrics` asks for its own bearer token when METRICS_TOKEN is set (what
  Prometheus' `authorization` setting sends); API tokens do not open it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from api.errors import Forbidden, NotFound, Unauthenticated
from api.settings import ApiToken, PbxScope, Role, Settings, scope_label


class Action(Enum):
    """What a request wants to do, and the least role that may."""

    READ = Role.VIEWER
    SET_STATUS = Role.SUPERVISOR
    ADMIN = Role.ADMIN
    # Supervisor actions on Asterisk: pause, unpause, penalty, listen in.
    SUPERVISE = Role.SUPERVISOR
    # Adding and removing queue members (on Asterisk or in its realtime table).
    MANAGE_MEMBERS = Role.ADMIN


def fingerprint(secret: str) -> str:
    """What audit rows name a token by: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Grant:
    """What one request may see and do: its role, queue scope and extension.

    `role` is None when no token was presented (open reads, or loopback writes
    without tokens); `queues` is None for every queue. A scoped grant sees only
    its queues' operators (with those memberships only), queues, callers,
    channels and changes, and may act only on members of its queues.
    """

    role: Role | None = None
    queues: frozenset[str] | None = None
    extension: str | None = None
    token_fingerprint: str | None = None
    pbxes: PbxScope | None = None
    """The token's `pbx/…` entries until `on(pbx)` narrows the grant to one PBX."""
    every_pbx: bool = True
    """False for a token limited to some PBXes (it may not set an every-PBX alert rule)."""

    def on(self, pbx: str) -> Grant | None:
        """The grant on PBX `pbx` (its queues there), or None when the PBX is out of its
        scope. A grant without PBX entries is the same on every PBX."""
        if self.pbxes is None:
            return self
        if pbx in self.pbxes:
            own = self.pbxes[pbx]
            queues = None if own is None else own | (self.queues or frozenset())
        elif self.queues:
            queues = self.queues  # bare queue entries apply on every PBX
        else:
            return None
        return replace(self, queues=queues, pbxes=None, every_pbx=False)

    @property
    def scoped(self) -> bool:
        """True when the grant is limited to some queues."""
        return self.queues is not None

    def sees_queue(self, name: str | None) -> bool:
        """Whether the grant covers queue `name` (None: an entity of no queue, which
        only an unscoped grant sees)."""
        if self.queues is None:
            return True
        return name is not None and name in self.queues

    @property
    def scope_label(self) -> str:
        """The scope as written in API_TOKENS (`*` for every queue), for the audit."""
        return scope_label(self.queues, self.pbxes)


OPEN = Grant()
"""The grant of a request when no token applies (open reads, loopback without tokens)."""


@dataclass(frozen=True, slots=True)
class AccessSummary:
    """What a request's token grants, for a board to decide which controls to show
    (REST `GET /access`, GraphQL `access`): `AccessPolicy.describe`."""

    role: Role | None
    queues: frozenset[str] | None
    extension: str | None
    can_supervise: bool
    can_manage_members: bool
    actions_enabled: bool

    def as_json(self, pause_reasons: Sequence[str]) -> dict[str, Any]:
        """The REST shape: camelCase keys, the role as API_TOKENS spells it, queues sorted
        (null: every queue), with the pause reasons a board offers."""
        return {
            "role": None if self.role is None else self.role.name.lower(),
            "queues": None if self.queues is None else sorted(self.queues),
            "extension": self.extension,
            "canSupervise": self.can_supervise,
            "canManageMembers": self.can_manage_members,
            "pauseReasons": list(pause_reasons),
            "actionsEnabled": self.actions_enabled,
        }


TOKEN_HELP = (
    "set API_TOKENS (e.g. API_TOKENS=supervisor:<token>,admin:<token>) and send "  # noqa: S105
    "'Authorization: Bearer <token>'"
)


class AccessPolicy:
    """Decides whether a request may do an action."""

    def __init__(
        self, tokens: tuple[ApiToken, ...], *, host_is_loopback: bool, metrics_token: str = ""
    ) -> None:
        self._tokens = tokens
        self._loopback = host_is_loopback
        self._metrics_token = metrics_token
        self.reads_protected = any(t.role is Role.VIEWER for t in tokens)

    @property
    def has_tokens(self) -> bool:
        """Whether any token is configured (else writes are open on loopback only)."""
        return bool(self._tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """The policy the settings describe."""
        return cls(
            settings.tokens,
            host_is_loopback=settings.host_is_loopback,
            metrics_token=settings.metrics_token.get_secret_value(),
        )

    def check_metrics(self, authorization: str | None) -> None:
        """Raise Unauthenticated unless /metrics is open or the METRICS_TOKEN is presented."""
        if not self._metrics_token:
            return
        scheme, _, token = (authorization or "").strip().partition(" ")
        presented = token.strip().encode() if scheme.lower() == "bearer" else b""
        if not hmac.compare_digest(self._metrics_token.encode(), presented):
            raise Unauthenticated("/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'")

    def token_of(self, authorization: str | None) -> ApiToken | None:
        """The token a bearer header presents; None for no header.

        Raises Unauthenticated for a malformed header or an unknown token.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        presented = token.strip().encode()
        found: ApiToken | None = None
        for candidate in self._tokens:
            # Constant-time comparison, every token compared: timing must not reveal
            # a token's prefix nor its place in the list.
            if hmac.compare_digest(candidate.secret.encode(), presented):
                found = candidate
        if found is None:
            raise Unauthenticated("unknown token")
        return found

    def role_of(self, authorization: str | None) -> Role | None:
        """The role a bearer header grants; None for no header."""
        token = self.token_of(authorization)
        return None if token is None else token.role

    def grant(self, authorization: str | None) -> Grant:
        """What the presented token (if any) grants, without checking any action.

        A token presented where none is needed still scopes what is seen: a
        `sales` token sees `sales` even while reads are open.
        """
        if not self._tokens:
            return OPEN
        token = self.token_of(authorization)
        if token is None:
            return OPEN
        return Grant(
            role=token.role,
            queues=token.queues,
            extension=token.extension,
            token_fingerprint=fingerprint(token.secret),
            pbxes=token.pbxes,
        )

    def who(self, authorization: str | None) -> Grant:
        """Who the presented token is, for an audit row (its grant on no PBX in particular);
        Unauthenticated for an unknown token."""
        return self.grant(authorization)

    def describe(
        self, authorization: str | None, *, actions_possible: bool = True
    ) -> AccessSummary:
        """What the presented token (if any) grants, by the rules of `check`; raises as a
        read would (an unknown token, or none while reads are protected).
        `actions_possible` is False where no action can reach Asterisk (AMI is off)."""
        grant = self.check(Action.READ, authorization)
        return AccessSummary(
            role=grant.role,
            queues=grant.queues,
            extension=grant.extension,
            can_supervise=self._may(Action.SUPERVISE, authorization),
            can_manage_members=self._may(Action.MANAGE_MEMBERS, authorization),
            # Writes are possible at all: with tokens (given the right one), or open on
            # loopback without tokens.
            actions_enabled=(self.has_tokens or self._loopback) and actions_possible,
        )

    def _may(self, action: Action, authorization: str | None) -> bool:
        try:
            self.check(action, authorization)
        except (Forbidden, Unauthenticated):
            return False
        return True

    def check(self, action: Action, authorization: str | None) -> Grant:
        """The request's grant; raises Unauthenticated/Forbidden unless it may do `action`."""
        required: Role = action.value
        if not self._tokens:
            if action is Action.READ or self._loopback:
                return OPEN
            raise Forbidden(
                f"writes are disabled on a non-loopback address without tokens: {TOKEN_HELP}"
            )
        grant = self.grant(authorization)
        if action is Action.READ and not self.reads_protected:
            return grant
        if grant.role is None:
            raise Unauthenticated(f"this operation needs a token: {TOKEN_HELP}")
        if grant.role < required:
            raise Forbidden(
                f"role {grant.role.name.lower()} may not do this; it needs {required.name.lower()}"
            )
        return grant


def unknown_pbx(name: str) -> NotFound:
    """The one answer for a PBX that does not exist and for one out of the token's scope
    (a scoped token must not learn which other PBXes there are)."""
    shown = (
        name
        if len(name) <= 40 and name.isprintable()
        else name[:40].encode("unicode_escape").decode()
    )
    return NotFound(f"no such PBX: {shown!r}")


class PbxAccessPolicy(AccessPolicy):
    """The access policy on one PBX: every grant narrowed to it (`Grant.on`); a token
    whose scope leaves the PBX out gets NotFound, as for a PBX that does not exist."""

    def __init__(self, policy: AccessPolicy, pbx: str) -> None:
        super().__init__(
            policy._tokens, host_is_loopback=policy._loopback, metrics_token=policy._metrics_token
        )
        self.pbx = pbx

    def grant(self, authorization: str | None) -> Grant:
        """The base grant on this PBX; NotFound when the token does not cover it."""
        narrowed = super().grant(authorization).on(self.pbx)
        if narrowed is None:
            raise unknown_pbx(self.pbx)
        return narrowed

    def who(self, authorization: str | None) -> Grant:
        """The token's grant as it is, not narrowed (an audit row names its whole scope)."""
        return super().grant(authorization)

    def sees(self, authorization: str | None) -> bool:
        """Whether the presented token (if any) covers this PBX (an unknown token: no)."""
        try:
            self.grant(authorization)
        except (NotFound, Unauthenticated):
            return False
        return True
