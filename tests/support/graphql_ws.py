"""A third-party GraphQL WebSocket client (gql) session, authenticated in connection_init."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gql import Client
from gql.client import AsyncClientSession
from gql.transport.websockets import WebsocketsTransport


@asynccontextmanager
async def graphql_ws_session(
    url: str, protocol: str, token: str
) -> AsyncIterator[AsyncClientSession]:
    """A gql session over `protocol` (graphql-transport-ws or the legacy graphql-ws)
    sending `{"authorization": "Bearer <token>"}` in connection_init."""
    transport = WebsocketsTransport(
        url=url,
        subprotocols=[protocol],
        init_payload={"authorization": f"Bearer {token}"},
        close_timeout=2,
    )
    async with Client(transport=transport) as opened:
        assert isinstance(opened, AsyncClientSession)
        yield opened
