"""The read rule for every GraphQL operation, introspection included.

Resolvers of ours ask the policy before they read; `__schema`, `__type` and
`__typename` are answered by graphql-core itself and never ask. When a
`viewer` token is configured (reads protected), an operation without read
access is refused before it is parsed: the schema is no more public than
the data. (Over a WebSocket, `connection_init` was already checked; over
HTTP, a POST without read access is refused before its body is read, see
`api.request_guard`.)
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from api.auth import Action
from api.graphql.context import GraphQLContext


class ReadPolicy(SchemaExtension):
    """Refuses (UNAUTHENTICATED/FORBIDDEN) an operation the caller may not read with."""

    def on_operation(self) -> Iterator[None]:
        """Check before parsing; nothing to do while reads are open."""
        context = self.execution_context.context
        if isinstance(context, GraphQLContext) and context.policy.reads_protected:
            context.allow(Action.READ)
        yield
