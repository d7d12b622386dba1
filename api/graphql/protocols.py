"""The two WebSocket protocol handlers: Strawberry's, with three fixes and the fan-out.

Subscriptions the fan-out can serve (`api.graphql.fanout`) join their group
instead of running a stream of their own; every other operation (and every
subscription the fan-out declines) goes through Strawberry as before. The
protocol's bookkeeping (ids, the subscription limit, `complete`) covers both.

- graphql-transport-ws closes the whole socket (4400) on a syntax error, and
  the token limit is reported as one: an operation over the limit now fails
  alone with an `error` message, the socket and its other operations go on.
- legacy graphql-ws ran the connect hook for every repeated connection_init;
  a second one now closes the socket with 4429, as graphql-transport-ws does.
- legacy graphql-ws closed a refused connection with 1011; it now sends
  connection_error and closes with 4403, like graphql-transport-ws.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any, Protocol, cast

from graphql import GraphQLError, get_operation_ast, parse
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    ErrorMessage,
    OperationMessage,
    StartMessage,
)
from strawberry.types.unset import UnsetType

from api.auth import Action
from api.errors import ApiError
from api.graphql.connections import SERVER_SEND
from api.graphql.context import GraphQLContext
from api.graphql.fanout import Fanout
from api.graphql.frames import FrameSink, frame_sink
from api.graphql.limits import is_token_limit_error
from api.graphql.members import Envelope, Member, Send
from api.graphql.planner import SubscriptionPlanner


class TextWebSocketLike(Protocol):
    """The WebSocket adapter of our view (`view.TextWebSocketAdapter`)."""

    ws: WebSocket


# Enough to read the operation type of any document the limits let through.
MAX_TOKENS_TO_PEEK = 10_000
FORBIDDEN = 4403
TOO_MANY_INITIALISATION_REQUESTS = 4429
BAD_REQUEST = 4400


def _sender(websocket: object) -> Send:
    """How the fan-out sends a text frame on this socket: straight to the server when the
    connection limiter kept its `send` (no middleware layers per frame), else through
    Starlette's WebSocket."""
    ws = cast(TextWebSocketLike, websocket).ws
    server_send = ws.scope.get(SERVER_SEND)
    if server_send is None:
        return ws.send_text

    async def send(text: str) -> None:
        await server_send({"type": "websocket.send", "text": text})

    return send


def _sink(websocket: object) -> FrameSink | None:
    """This socket, when the fan-out can write its ready-made frames to it
    (`api.graphql.frames`): only when the limiter kept the server's own `send`."""
    server_send = cast(TextWebSocketLike, websocket).ws.scope.get(SERVER_SEND)
    return None if server_send is None else frame_sink(server_send)


def _join(
    view: object,
    context: GraphQLContext,
    payload: object,
    envelope: Envelope,
    send: Send,
    on_end: Callable[[], None],
    sink: FrameSink | None = None,
) -> Member | None:
    """The subscription as a member of its fan-out group, or None (Strawberry's path:
    not groupable, refused by the policy, subscriptions not running)."""
    planner = getattr(view, "subscription_planner", None)
    fanouts = getattr(view, "fanouts", None)
    if not isinstance(planner, SubscriptionPlanner) or not isinstance(fanouts, dict):
        return None
    if not isinstance(payload, dict):
        return None
    plan = planner.plan(
        payload.get("query"), payload.get("operationName"), payload.get("variables")
    )
    if plan is None:
        return None
    try:
        # As the resolver checks, before the stream starts (a refusal is its error): the
        # subscription's PBX (its `pbx` argument) and the token's grant there.
        pbx = context.at(plan.pbx)
        grant = pbx.grant(Action.READ)
        pbx.live()
    except ApiError:
        return None
    fanout = fanouts.get(pbx.name)
    if not isinstance(fanout, Fanout):
        return None
    return fanout.join(plan.scoped(grant.queues), pbx, envelope, send, on_end, sink)


class TransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._grouped: dict[str, Member] = {}

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Join the fan-out when it serves the operation; else Strawberry's stream."""
        operation_id = message["id"]
        grouped = self._grouped
        if (
            not self.connection_acknowledged
            or operation_id in self.operations
            or (
                self.max_subscriptions_per_connection is not None
                and len(self.operations) >= self.max_subscriptions_per_connection
            )
        ):
            await super().handle_subscribe(message)  # refuses as the protocol says
            return
        payload = message["payload"]

        def ended() -> None:
            if grouped.get(operation_id) is member:
                del grouped[operation_id]
                self.operations.pop(operation_id, None)

        member = _join(
            self.view,
            self.context,
            payload,
            Envelope.transport_ws(operation_id),
            _sender(self.websocket),
            ended,
            _sink(self.websocket),
        )
        if member is None:
            await super().handle_subscribe(message)
            return
        grouped[operation_id] = member
        self.operations[operation_id] = Operation(
            self,
            operation_id,
            # Kept for the socket's lifetime (bookkeeping only: the group runs it): a
            # thousand wallboards share one copy of their ~1 KB document.
            sys.intern(payload["query"]),
            payload.get("variables"),
            payload.get("operationName"),
        )

    async def cleanup_operation(self, operation_id: str) -> None:
        """`complete` from the client (or the socket closing): leave the group."""
        member = self._grouped.pop(operation_id, None)
        if member is None:
            await super().cleanup_operation(operation_id)
            return
        self.operations.pop(operation_id, None)
        member.leave()

    async def handle_message(self, message: Any) -> None:
        """A frame that is JSON but not an object closes the socket with 4400, as any other
        invalid message does (Strawberry failed on it: the socket died with 1006)."""
        if not isinstance(message, dict):
            await self.handle_invalid_message("Failed to parse message")
            return
        await super().handle_message(cast(Any, message))

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        if is_token_limit_error(error):
            return None  # → an `error` message for this operation only
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)


class LegacyWSHandler(BaseGraphQLWSHandler[GraphQLContext, None]):
    """The legacy subscriptions-transport-ws protocol (subprotocol `graphql-ws`)."""

    _init_received = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._grouped: dict[str, Member] = {}

    async def handle_start(self, message: StartMessage) -> None:
        """Join the fan-out when it serves the operation; else Strawberry's stream."""
        operation_id = message["id"]
        grouped = self._grouped
        if not self.connection_acknowledged:
            await super().handle_start(message)  # closes with 4401
            return
        if operation_id in self.tasks or operation_id in grouped:
            await self.cleanup_operation(operation_id)
        if (
            self.max_subscriptions_per_connection is not None
            and len(self.tasks) + len(grouped) >= self.max_subscriptions_per_connection
        ):
            # Strawberry's own check counts its streams only, not the grouped members.
            await self.send_message(
                ErrorMessage(
                    type="error",
                    id=operation_id,
                    payload={"message": "Subscription limit reached"},
                )
            )
            return

        def ended() -> None:
            if grouped.get(operation_id) is member:
                del grouped[operation_id]

        member = _join(
            self.view,
            self.context,
            message["payload"],
            Envelope.legacy_ws(operation_id),
            _sender(self.websocket),
            ended,
            _sink(self.websocket),
        )
        if member is None:
            await super().handle_start(message)
            return
        grouped[operation_id] = member

    async def cleanup_operation(self, operation_id: str) -> None:
        """`stop` from the client (or the socket closing): leave the group."""
        member = self._grouped.pop(operation_id, None)
        if member is None:
            await super().cleanup_operation(operation_id)
            return
        member.leave()
        # As Strawberry does when a stream is stopped.
        with contextlib.suppress(Exception):
            await self.send_message(CompleteMessage(type="complete", id=operation_id))

    async def cleanup(self) -> None:
        """The socket is closing: leave every group, stop every stream."""
        grouped, self._grouped = self._grouped, {}
        for member in grouped.values():
            member.leave()
        await super().cleanup()

    async def handle(self) -> None:
        """Strawberry's loop, except that a frame which is not an operation message (not
        JSON, not an object, a start without an id or a query) closes the socket with 4400.

        Strawberry ignored such frames, or failed on them with an internal error: a
        client could send garbage forever (found by the reliability suite, item 12).
        """
        no_init = asyncio.create_task(self._close_without_init())
        try:
            try:
                async for message in self.websocket.iter_json():
                    if not _is_operation_message(message):
                        await self.websocket.close(code=BAD_REQUEST, reason="Invalid message")
                        return
                    await self.handle_message(cast("OperationMessage", message))
            except NonJsonMessageReceived:
                await self.websocket.close(code=BAD_REQUEST, reason="Invalid message: not JSON")
            except NonTextMessageReceived:
                await self.websocket.close(code=1002, reason="WebSocket message type must be text")
        except WebSocketDisconnected:
            pass
        finally:
            no_init.cancel()
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                with contextlib.suppress(BaseException):
                    await self.keep_alive_task
            await self.cleanup()

    async def _close_without_init(self) -> None:
        """No connection_init within the view's wait timeout: close with 4408, as
        graphql-transport-ws does (the legacy protocol waited forever)."""
        wait = getattr(self.view, "connection_init_wait_timeout", None)
        if wait is None:
            return
        await asyncio.sleep(wait.total_seconds())
        if not self._init_received:
            with contextlib.suppress(Exception):
                await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Authenticate once; a repeated connection_init closes the socket."""
        if self._init_received:
            await self.websocket.close(
                code=TOO_MANY_INITIALISATION_REQUESTS, reason="Too many initialisation requests"
            )
            return
        self._init_received = True
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.send_message({"type": "connection_error"})
            await self.websocket.close(code=BAD_REQUEST, reason="Invalid connection init payload")
            return
        self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as rejection:
            await self.send_message({"type": "connection_error", "payload": rejection.payload})
            await self.websocket.close(code=FORBIDDEN, reason="Forbidden")
            return
        if isinstance(ack_payload, UnsetType) or ack_payload is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Queries and mutations run once: `data`, then `complete`.

        Strawberry sends every operation of this protocol to `schema.subscribe`,
        which takes subscriptions only: a query or a mutation came back as an
        internal error (found by the reliability suite, item 10).
        """
        if _operation_type(query, operation_name) not in ("query", "mutation"):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation_name,
            )
            await self.send_data_message(result, operation_id)
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        except asyncio.CancelledError:
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)


def _operation_type(query: str, operation_name: str | None) -> str | None:
    """query, mutation or subscription; None when the document does not say (Strawberry
    then reports why)."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS_TO_PEEK)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    return None if operation is None else operation.operation.value


def _is_operation_message(message: object) -> bool:
    """A JSON object the legacy protocol can act on."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    if message["type"] == "start":
        payload = message.get("payload")
        return (
            isinstance(message.get("id"), str)
            and isinstance(payload, dict)
            and isinstance(payload.get("query"), str)
        )
    if message["type"] == "stop":
        return isinstance(message.get("id"), str)
    return True
