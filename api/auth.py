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

import hmac
from enum import Enum

from api.errors import Forbidden, Unauthenticated
from api.settings import ApiToken, Role, Settings


class Action(Enum):
    """What a request wants to do, and the least role that may."""

    READ = Role.VIEWER
    SET_STATUS = Role.SUPERVISOR
    ADMIN = Role.ADMIN


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

    def role_of(self, authorization: str | None) -> Role | None:
        """The role a bearer header grants; None for no header.

        Raises Unauthenticated for a malformed header or an unknown token.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        presented = token.strip().encode()
        for candidate in self._tokens:
            # Constant-time comparison: timing must not reveal a token's prefix.
            if hmac.compare_digest(candidate.secret.encode(), presented):
                return candidate.role
        raise Unauthenticated("unknown token")

    def check(self, action: Action, authorization: str | None) -> None:
        """Raise Unauthenticated/Forbidden unless the request may do `action`."""
        required: Role = action.value
        if not self._tokens:
            if action is Action.READ or self._loopback:
                return
            raise Forbidden(
                f"writes are disabled on a non-loopback address without tokens: {TOKEN_HELP}"
            )
        if action is Action.READ and not self.reads_protected:
            return
        role = self.role_of(authorization)
        if role is None:
            raise Unauthenticated(f"this operation needs a token: {TOKEN_HELP}")
        if role < required:
            raise Forbidden(
                f"role {role.name.lower()} may not do this; it needs {required.name.lower()}"
            )
