"""The two WebSocket protocol handlers: Strawberry's, with three fixes.

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

from graphql import GraphQLError
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.unset import UnsetType

from api.graphql.context import GraphQLContext
from api.graphql.limits import is_token_limit_error

FORBIDDEN = 4403
TOO_MANY_INITIALISATION_REQUESTS = 4429
BAD_REQUEST = 4400


class TransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws."""

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        if is_token_limit_error(error):
            return None  # → an `error` message for this operation only
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)


class LegacyWSHandler(BaseGraphQLWSHandler[GraphQLContext, None]):
    """The legacy subscriptions-transport-ws protocol (subprotocol `graphql-ws`)."""

    _init_received = False

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
