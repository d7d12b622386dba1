"""Mounting /graphql: the Strawberry router, its WebSocket handling, and the fan-out.

- POST and GET queries; GraphiQL for browsers (GRAPHIQL); WebSocket
  subscriptions over graphql-transport-ws and, unless GRAPHQL_LEGACY_PROTOCOL is
  off, the legacy graphql-ws.
- JSON in and out through orjson; WebSocket frames stay text (the protocols
  and browser clients expect text frames).
- Cross-origin WebSockets only from CORS_ORIGINS (the same list as HTTP CORS).
- WebSocket auth at connection_init: `{"authorization": "Bearer …"}`; when the
  policy refuses reads the socket is closed with 4403.
- The context comes from the app's runtime (`api.runtime`); the subscription
  planner (made here) and the fan-out (attached by the app's lifespan) live on
  the view, where its protocol handlers find them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from api.auth import Action
from api.errors import ApiError
from api.graphql.answer_route import CachedAnswers
from api.graphql.answers import AnswerCache, AnswerMetrics, AnswerRule
from api.graphql.connections import WebSocketLimits
from api.graphql.context import GraphQLContext
from api.graphql.fanout import Fanout
from api.graphql.limits import GraphQLOptions
from api.graphql.planner import SubscriptionPlanner
from api.graphql.protocols import LegacyWSHandler, TransportWSHandler
from api.graphql.schema import QueueStatusSchema, build_schema
from api.live import LiveBroadcaster, LiveState
from api.runtime import runtime_of
from api.settings import Settings

GRAPHQL_PATH = "/graphql"


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends orjson-encoded messages as text frames (bytes would go out as binary)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        """Encode with orjson and send one text frame."""
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLView(GraphQLRouter[GraphQLContext, None]):
    """Strawberry's FastAPI router with our protocol handlers, JSON codec and WS auth."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = TextWebSocketAdapter
    subscription_planner: SubscriptionPlanner | None = None
    """Which subscriptions the fan-out serves as groups (set by `mount_graphql`)."""
    fanouts: dict[str, Fanout] = {}  # replaced per instance, never mutated here
    """Each PBX's fan-out while the app runs (set by `attach_fanout`)."""
    answers: CachedAnswers | None = None
    """The answer cache's route in front of this one (None: GRAPHQL_ANSWER_CACHE=0)."""

    def encode_json(self, data: object) -> bytes:
        """orjson: HTTP answers go out as the bytes it produces."""
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """orjson (its JSONDecodeError is the standard library's)."""
        return orjson.loads(data)

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """The read policy, once for the whole connection (writes are checked per operation)."""
        try:
            context.policy.check(Action.READ, context.authorization)
        except ApiError as refusal:
            raise ConnectionRejectionError(
                {"message": refusal.message, "code": refusal.graphql_code}
            ) from None
        return UnsetType()  # no payload in connection_ack


async def get_context(connection: HTTPConnection) -> GraphQLContext:
    """The context of a request or a WebSocket connection, from the app's runtime."""
    runtime = runtime_of(connection.app)
    default = runtime.default
    # The operation's own context: the default PBX's parts with the process' policy (the
    # connection's read check); each root field reads its PBX's through `at(pbx)`.
    return GraphQLContext(
        service=default.service,
        policy=runtime.policy,
        broadcaster=default.broadcaster,
        mirror=default.mirror,
        authorization=connection.headers.get("authorization"),
        console=default.console,
        pause_reasons=runtime.settings.pause_reasons,
        pbxes=functools.partial(runtime.pbx, required=True),
        name=default.name,
        names_pbx_in_logs=runtime.several,
    )


def attach_fanout(
    view: GraphQLView,
    pbx: str,
    broadcaster: LiveBroadcaster,
    mirror: LiveState,
    *,
    buffer_size: int,
) -> Fanout:
    """The fan-out of PBX `pbx` that serves identical subscriptions as one group: fed by
    `broadcaster` (attached as its listener), reached by the view's protocol handlers."""
    fanout = Fanout(mirror, buffer_size=buffer_size, on_overflow=broadcaster.record_overflow)
    broadcaster.attach(fanout)
    view.fanouts = {**view.fanouts, pbx: fanout}
    return fanout


def mount_graphql(
    app: FastAPI, settings: Settings, registry: CollectorRegistry | None = None
) -> GraphQLView:
    """Add /graphql (HTTP and WebSocket) and the WebSocket connection limits to `app`;
    with GRAPHQL_ANSWER_CACHE, the answer cache in front of it (its metrics in
    `registry`)."""
    protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
    if settings.graphql_legacy_protocol:
        protocols.append(GRAPHQL_WS_PROTOCOL)
    options = GraphQLOptions.from_settings(settings)
    schema = build_schema(options)
    view = GraphQLView(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        context_getter=get_context,
        subscription_protocols=protocols,
        connection_init_wait_timeout=timedelta(seconds=settings.graphql_ws_init_timeout),
        max_subscriptions_per_connection=settings.graphql_ws_max_subscriptions,
        keep_alive=True,
        keep_alive_interval=settings.graphql_ws_keepalive,
        allowed_origins=settings.cors_origins,
    )
    if settings.graphql_subscription_fanout:
        view.subscription_planner = SubscriptionPlanner(schema, options)
    view.answers = _add_answer_route(app, settings, options, schema, registry)
    app.include_router(view, prefix=GRAPHQL_PATH)
    app.add_middleware(
        WebSocketLimits,
        path=GRAPHQL_PATH,
        max_connections=settings.graphql_ws_max_connections,
        max_per_client=settings.graphql_ws_max_connections_per_client,
        subprotocols=protocols,
    )
    return view


def _add_answer_route(
    app: FastAPI,
    settings: Settings,
    options: GraphQLOptions,
    schema: QueueStatusSchema,
    registry: CollectorRegistry | None,
) -> CachedAnswers | None:
    """The answer cache's route, registered ahead of Strawberry's (none when
    GRAPHQL_ANSWER_CACHE is 0)."""
    if settings.graphql_answer_cache <= 0:
        return None
    cache = AnswerCache(
        max_entries=settings.graphql_answer_cache,
        max_bytes=settings.graphql_answer_cache_bytes,
        metrics=None if registry is None else AnswerMetrics(registry),
    )
    rule = AnswerRule(schema._schema, max_tokens=options.max_tokens, size=options.cache_size)
    route = CachedAnswers(cache, rule)
    # A Route whose endpoint is not a function is an ASGI app (typed for functions only).
    endpoint: Any = route
    app.add_route(GRAPHQL_PATH, endpoint, methods=["GET", "POST"], include_in_schema=False)
    route.own = app.router.routes[-1]
    return route
