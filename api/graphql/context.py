"""The GraphQL context: the domain service, the access policy, loaders, the broadcaster.

One context per HTTP request, one per WebSocket connection (shared by its
operations). Credentials come from the `Authorization` header, or for a
WebSocket from the connection_init payload `{"authorization": "Bearer …"}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from api.auth import AccessPolicy, Action
from api.broadcast import Broadcaster
from api.errors import Unavailable
from api.graphql.loaders import Loaders, make_loaders
from api.live import LiveEvent, LiveState
from api.service import QueueStatusService

if TYPE_CHECKING:
    from api.graphql.fanout import Fanout

LiveBroadcaster: TypeAlias = Broadcaster[LiveEvent]


class GraphQLContext(BaseContext):
    """What resolvers reach through `info.context`."""

    def __init__(
        self,
        *,
        service: QueueStatusService,
        policy: AccessPolicy,
        broadcaster: LiveBroadcaster | None,
        authorization: str | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.policy = policy
        self._broadcaster = broadcaster
        self._header = authorization
        self._loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        """The DataLoaders of this context (made on first use: most operations need none)."""
        if self._loaders is None:
            self._loaders = make_loaders(self.service.store)
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

    def live(self) -> tuple[LiveBroadcaster, LiveState]:
        """The broadcaster and its live mirror, for subscriptions."""
        broadcaster = self._broadcaster
        if broadcaster is None or not isinstance(broadcaster.feed, LiveState):
            raise Unavailable("subscriptions are not running in this process")
        return broadcaster, broadcaster.feed

    def replica(self) -> LiveState | None:
        """The live mirror, which collection reads use when it is current (None when
        subscriptions do not run here)."""
        broadcaster = self._broadcaster
        if broadcaster is None or not isinstance(broadcaster.feed, LiveState):
            return None
        return broadcaster.feed

    def fanout(self) -> Fanout | None:
        """The process' subscription fan-out (grouped subscriptions), if it runs."""
        from api.graphql.fanout import Fanout  # the fan-out's types import this module

        broadcaster = self._broadcaster
        if broadcaster is None:
            return None
        return next((x for x in broadcaster.listeners if isinstance(x, Fanout)), None)


Info: TypeAlias = strawberry.Info[GraphQLContext, None]


async def get_context(connection: HTTPConnection) -> GraphQLContext:
    """FastAPI dependency building the context from the app's lifespan state."""
    state = connection.app.state
    return GraphQLContext(
        service=state.service,
        policy=state.policy,
        broadcaster=getattr(state, "broadcaster", None),
        authorization=connection.headers.get("authorization"),
    )
