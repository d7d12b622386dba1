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
from dataclasses import dataclass, replace
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
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
    pbx: str | None = None
    """The root field's `pbx` argument (None: the default PBX); each PBX has its own
    fan-out, so it is not part of the key."""

    def scoped(self, scope: frozenset[str] | None) -> SubscriptionPlan:
        """The plan for a token limited to `scope` on the plan's PBX."""
        query, operation_name, canonical, _ = self.key
        return replace(self, key=(query, operation_name, canonical, scope), scope=scope)


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
        pbx = _pbx_argument(prepared, variables or {})
        if pbx is _INVALID:
            return None  # Strawberry's path reports the variable that does not coerce
        return SubscriptionPlan(
            (query, operation_name, canonical, scope),
            self._schema,
            prepared,
            operation_name,
            variables,
            scope,
            pbx if isinstance(pbx, str) else None,
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


_INVALID = object()


def _pbx_argument(prepared: PreparedSubscription, variables: dict[str, Any]) -> object:
    """The root field's `pbx` (a literal, or a variable given or defaulted), None when
    absent or null, `_INVALID` when a variable holds something else than a string."""
    for argument in prepared.field.arguments or ():
        if argument.name.value != "pbx":
            continue
        value = argument.value
        if isinstance(value, StringValueNode):
            return value.value
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in variables:
                given = variables[name]
                return given if given is None or isinstance(given, str) else _INVALID
            for definition in prepared.operation.variable_definitions or ():
                default = definition.default_value
                if definition.variable.name.value == name and isinstance(default, StringValueNode):
                    return default.value
        return None
    return None
