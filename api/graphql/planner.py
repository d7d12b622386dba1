"""Which subscriptions the fan-out serves as groups, and under which key.

Only subscriptions it can serve exactly as the per-subscription stream would
are grouped (`api.graphql.fanout`): a subscription operation whose one root
field is one of ours (`selectors.SELECTORS`), with a document that parses and
validates under the schema's rules and variables that can be keyed, on a
connection the policy lets read. Subscriptions with the same document,
operation name, variables and token scope (the queues a token is limited to:
two scopes never share a message) share a key: one group. Anything else takes
Strawberry's path (`streams.follow`), which reports the errors.

Documents are parsed and validated once (an LRU cache of the schema's size).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
)
from strawberry.schema import Schema
from strawberry.schema.schema import validate_document

from api.graphql.limits import GraphQLOptions, validation_rules
from api.graphql.selectors import SELECTORS


@dataclass(frozen=True, slots=True)
class PreparedSubscription:
    """A subscription document parsed and validated, with its operation and root field."""

    document: DocumentNode
    operation: OperationDefinitionNode
    field: FieldNode


GroupKey = tuple[str, str | None, bytes, frozenset[str] | None]
"""(document, operation name, variables as canonical JSON, token scope)."""


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """A groupable subscription: its group key and what a group needs to run it."""

    key: GroupKey
    schema: Schema
    prepared: PreparedSubscription
    operation_name: str | None
    variables: dict[str, Any] | None
    scope: frozenset[str] | None = None
    """The queues the subscriber's token is limited to (None: every queue)."""


class SubscriptionPlanner:
    """Parses and validates subscription documents (cached) as Strawberry would."""

    def __init__(self, schema: Schema, options: GraphQLOptions) -> None:
        self._schema = schema
        self._max_tokens = options.max_tokens
        self._rules = (*specified_rules, *validation_rules(options))
        self._cache_size = options.cache_size
        self._prepared: OrderedDict[tuple[str, str | None], PreparedSubscription | None] = (
            OrderedDict()
        )

    def plan(
        self,
        query: Any,
        operation_name: Any,
        variables: Any,
        scope: frozenset[str] | None = None,
    ) -> SubscriptionPlan | None:
        """The plan of a subscribe message's payload for a token limited to `scope` (None:
        every queue), or None (Strawberry's path)."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None):
            return None
        if variables is not None and not isinstance(variables, dict):
            return None
        prepared = self._prepare(query, operation_name)
        if prepared is None:
            return None
        try:
            canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        return SubscriptionPlan(
            (query, operation_name, canonical, scope),
            self._schema,
            prepared,
            operation_name,
            variables,
            scope,
        )

    def _prepare(self, query: str, operation_name: str | None) -> PreparedSubscription | None:
        key = (query, operation_name)
        if key in self._prepared:
            self._prepared.move_to_end(key)
            return self._prepared[key]
        prepared = self._compile(query, operation_name)
        self._prepared[key] = prepared
        if len(self._prepared) > self._cache_size:
            self._prepared.popitem(last=False)
        return prepared

    def _compile(self, query: str, operation_name: str | None) -> PreparedSubscription | None:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
            return None
        if validate_document(self._schema._schema, document, self._rules):
            return None
        selections = operation.selection_set.selections
        if operation.directives or len(selections) != 1:
            return None
        (field,) = selections
        if not isinstance(field, FieldNode) or field.directives:
            return None
        if field.name.value not in SELECTORS:
            return None
        return PreparedSubscription(document, operation, field)
