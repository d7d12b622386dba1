"""The schema: Query, Mutation, Subscription, the scalars, limits and error codes.

`schema` (defaults) is what `make schema` exports to `schema.graphql`; the app
builds its own with `build_schema(GraphQLOptions.from_settings(settings))` —
the options change limits and introspection, never the SDL.
"""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from api.graphql.access import ReadPolicy
from api.graphql.alerts import AlertMutation, AlertQuery, AlertSubscription
from api.graphql.audit import AuditQuery
from api.graphql.compiled import CompiledQueries, PlanCache
from api.graphql.errors import annotate
from api.graphql.limits import GraphQLOptions, limit_extensions
from api.graphql.mutations import Mutation
from api.graphql.pbxes import PbxQuery
from api.graphql.queries import Query
from api.graphql.scalars import SCALARS
from api.graphql.stats import StatsQuery
from api.graphql.subscriptions import Subscription


@strawberry.type(name="Query", description=get_object_definition(Query, strict=True).description)
class RootQuery(Query, AuditQuery, AlertQuery, StatsQuery, PbxQuery):
    """The Query root: the reads (`api.graphql.queries`), the audit log (`api.graphql.audit`),
    the alerts (`api.graphql.alerts`), the KPIs from the call records (`api.graphql.stats`)
    and the PBXes (`api.graphql.pbxes`)."""


@strawberry.type(
    name="Mutation", description=get_object_definition(Mutation, strict=True).description
)
class RootMutation(Mutation, AlertMutation):
    """The Mutation root: the writes (`api.graphql.mutations`) and the alert rules."""


@strawberry.type(
    name="Subscription", description=get_object_definition(Subscription, strict=True).description
)
class RootSubscription(Subscription, AlertSubscription):
    """The Subscription root: the live updates (`api.graphql.subscriptions`) and alerts."""


class QueueStatusSchema(strawberry.Schema):
    """The Strawberry schema, with our error codes instead of Strawberry's error logging."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Give every error its `extensions.code` (see `api.graphql.errors`)."""
        annotate(errors)


def build_schema(options: GraphQLOptions | None = None) -> QueueStatusSchema:
    """A schema with the given limits (defaults when None)."""
    chosen = options or GraphQLOptions()
    # The read rule first: a refused caller costs no parsing.
    extensions: list[Callable[[], SchemaExtension]] = [ReadPolicy, *limit_extensions(chosen)]
    if chosen.compiled:
        plans = PlanCache(chosen.cache_size)

        def compiled() -> SchemaExtension:
            return CompiledQueries(plans)

        extensions.append(compiled)
    return QueueStatusSchema(
        query=RootQuery,
        mutation=RootMutation,
        subscription=RootSubscription,
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map=SCALARS,
            # Without introspection, "did you mean …?" hints would still leak the schema.
            disable_field_suggestions=not chosen.introspection,
        ),
    )


schema = build_schema()
