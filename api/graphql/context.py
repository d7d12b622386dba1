"""The GraphQL context: the domain service, the access policy, loaders, the live mirror.

One context per HTTP request, one per WebSocket connection (shared by its
operations). Credentials come from the `Authorization` header, or for a
WebSocket from the connection_init payload `{"authorization": "Bearer …"}`.
The view (`api.graphql.view.get_context`) builds it from the app's runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import strawberry
from strawberry.fastapi import BaseContext

from api.auth import AccessPolicy, Action, Grant
from api.console import SupervisorConsole
from api.errors import Unavailable
from api.graphql.loaders import Loaders, make_loaders
from api.live import LiveBroadcaster, LiveState
from api.service import QueueStatusService


class GraphQLContext(BaseContext):
    """What resolvers reach through `info.context`."""

    def __init__(
        self,
        *,
        service: QueueStatusService,
        policy: AccessPolicy,
        broadcaster: LiveBroadcaster | None = None,
        mirror: LiveState | None = None,
        authorization: str | None = None,
        console: SupervisorConsole | None = None,
        pause_reasons: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.service = service
        self.policy = policy
        self.pause_reasons = tuple(pause_reasons)
        """The pause reasons a board offers (PAUSE_REASONS), for the `access` query."""
        self._broadcaster = broadcaster
        self._mirror = mirror
        self._header = authorization
        self.console = console
        self._loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        """The DataLoaders of this context (made on first use: most operations need none),
        limited to the scope of its token: nested lookups see what the root fields see."""
        if self._loaders is None:
            scope = self.policy.grant(self.authorization).queues
            self._loaders = make_loaders(self.service.store, scope)
        return self._loaders

    @property
    def authorization(self) -> str | None:
        """The bearer credential: connection_init payload first, then the header."""
        params = self.connection_params
        if isinstance(params, dict):
            for key in ("authorization", "Authorization"):
                value = params.get(key)
                if isinstance(value, str) and value:
                    return value
        return self._header

    def allow(self, action: Action) -> QueueStatusService:
        """The service, once the policy allows `action` (else Unauthenticated/Forbidden)."""
        self.policy.check(action, self.authorization)
        return self.service

    def grant(self, action: Action) -> Grant:
        """The operation's `Grant` (role, queue scope, extension), once the policy allows
        `action` (else Unauthenticated/Forbidden). Reads pass it to the service, which
        limits what a scoped token sees (`api.scope`)."""
        return self.policy.check(action, self.authorization)

    def live(self) -> tuple[LiveBroadcaster, LiveState]:
        """The broadcaster and its live mirror, for subscriptions."""
        if self._broadcaster is None or self._mirror is None:
            raise Unavailable("subscriptions are not running in this process")
        return self._broadcaster, self._mirror

    def replica(self) -> LiveState | None:
        """The live mirror, which collection reads use when it is current (None when
        there is none)."""
        return self._mirror


Info: TypeAlias = strawberry.Info[GraphQLContext, None]
