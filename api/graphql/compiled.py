"""Compiled queries: a validated query over the stored JSON becomes a projection.

graphql-core executes a query field by field: for a thousand operators and
six fields that is tens of thousands of resolver calls, each with its own
`info`, completion and serialization step — a hundred times the cost of the
REST route that returns the same data. Most queries here need none of that:
they read a collection through the domain service and pick fields out of the
stored JSON. For those, the validated document is compiled once (as
graphql-jit does for JavaScript) into Python source: one function per
selection set that builds the response dict from a stored entity directly.
Each field is read by the reader the types in `api.graphql.types` are built
with (`api.graphql.stored`, one table for both), then serialized as
graphql-core would: an enum as its name, an Int checked against 32 bits, a
Float checked to be finite.

What is compiled: query operations whose root fields are `operators`,
`operator`, `channels`, `queues`, `queue`, `snapshot` and `__typename`, with
fields (aliases, repeats, inline fragments and fragment spreads on the
object's own type) of Operator, QueueMembership, Channel, Queue, Caller,
MemberCounts and Snapshot, but no nested lookups (`Operator.channel`,
`Channel.operator`, `Queue.operators`, `Queue.channels`) and no directives.
Everything else — and every request where the compiled plan meets something
the executor would answer differently (an error: not found, Redis down,
refused by the policy, a variable that does not coerce, stored data a
converter would fail on or an Int out of 32-bit range) — falls back to the
normal executor, which then answers the request as it always did. A test runs
every query of the suites both ways and compares the results byte for byte.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
    get_operation_ast,
    get_variable_values,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from api.auth import Action, Grant
from api.graphql.context import GraphQLContext
from api.graphql.stored import STORED, Nested, Source
from api.service import QueueStatusService, Replica
from ingest.patches import JsonObject

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class Fallback(Exception):
    """The compiled plan cannot answer exactly as the executor would: use the executor."""


# --- serialization: what graphql-core does with a field's value on its way out -------


def _i32(value: int | None) -> int | None:
    # GraphQL's Int is 32-bit: graphql-core reports an error for anything wider.
    if value is not None and not _INT_MIN <= value <= _INT_MAX:
        raise Fallback
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise Fallback  # graphql-core refuses to serialize it
    return value


def _name(value: Enum | None) -> str | None:
    return None if value is None else value.name


def _serializer(field_type: Any) -> Callable[[Any], Any] | None:
    """What graphql-core's serialization of a field's type does to the value the type
    holds, where it is not the value itself (Timestamp and Version are ints already)."""
    named = _named(field_type)
    if isinstance(named, GraphQLEnumType):
        return _name
    if named is GraphQLInt:
        return _i32
    if named is GraphQLFloat:
        return _finite
    return None


# --- root fields: the service call whose result the projection reads ------------

Fetch = Callable[[QueueStatusService, dict[str, Any], Replica | None, Grant], Any]


async def _operators(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None, grant: Grant
) -> Any:
    status = args.get("status")
    return await service.operators(
        queue=args.get("queue"),
        status=None if status is None else str(status.value),
        paused=args.get("paused"),
        replica=replica,
        grant=grant,
    )


async def _operator(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None, grant: Grant
) -> Any:
    return await service.operator(args["memberId"], grant)


async def _channels(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None, grant: Grant
) -> Any:
    return await service.channels(queue=args.get("queue"), replica=replica, grant=grant)


async def _queues(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None, grant: Grant
) -> Any:
    return await service.queues(replica, grant)


async def _queue(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None, grant: Grant
) -> Any:
    return await service.queue(args["name"], grant)


async def _snapshot(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None, grant: Grant
) -> Any:
    return await service.snapshot(replica, grant)


_ROOTS: dict[str, Fetch] = {
    "operators": _operators,
    "operator": _operator,
    "channels": _channels,
    "queues": _queues,
    "queue": _queue,
    "snapshot": _snapshot,
}


# --- plans --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Root:
    key: str
    field: str
    node: FieldNode | None  # None for __typename
    is_list: bool
    project: Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A compiled query: its root fields and their projections."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    roots: tuple[_Root, ...]

    async def run(self, context: GraphQLContext, variables: dict[str, Any] | None) -> JsonObject:
        """The query's `data`; raises Fallback (or anything) where the executor must answer.

        Reads each root field's PBX with the operation's `Grant` there, as the resolvers do
        (a scoped token's data)."""
        coerced = get_variable_values(
            self.schema, self.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # variables that do not coerce: the executor reports
            raise Fallback
        query_type = self.schema.query_type
        assert query_type is not None
        data: JsonObject = {}
        for root in self.roots:
            if root.node is None:
                data[root.key] = "Query"
                continue
            args = get_argument_values(query_type.fields[root.field], root.node, coerced)
            # Each root field reads its own PBX, with the token's grant there.
            pbx = context.at(args.get("pbx"))
            grant = pbx.grant(Action.READ)
            found = await _ROOTS[root.field](pbx.service, args, pbx.replica(), grant)
            assert root.project is not None
            project = root.project
            data[root.key] = [project(item) for item in found] if root.is_list else project(found)
        return data


class _Compiler:
    """Builds the projector functions of one document."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self._schema = schema
        self._fragments = fragments
        self._code = Source()
        self._functions: list[str] = []

    def compile(self, operation: OperationDefinitionNode) -> tuple[_Root, ...] | None:
        query_type = self._schema.query_type
        fields = self._collect(query_type, [operation.selection_set]) if query_type else None
        if query_type is None or fields is None:
            return None
        planned: list[tuple[str, str, FieldNode | None, bool, str | None]] = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                planned.append((key, name, None, False, None))
                continue
            if name not in _ROOTS:
                return None
            field_type = query_type.fields[name].type
            is_list = isinstance(_nullable(field_type), GraphQLList)
            object_type = _named(field_type)
            if not isinstance(object_type, GraphQLObjectType):
                return None
            projector = self._projector(object_type, [n.selection_set for n in nodes])
            if projector is None:
                return None
            planned.append((key, name, nodes[0], is_list, projector))
        namespace = self._code.namespace
        exec(compile("\n".join(self._functions), "<compiled query>", "exec"), namespace)  # noqa: S102  # our own generated code (names and literals only)
        return tuple(
            _Root(key, name, node, is_list, None if projector is None else namespace[projector])
            for key, name, node, is_list, projector in planned
        )

    def _projector(
        self, object_type: GraphQLObjectType, selections: Sequence[SelectionSetNode | None]
    ) -> str | None:
        """The name of the generated function projecting `object_type`, or None."""
        stored = STORED.get(object_type.name)
        fields = self._collect(object_type, selections)
        if stored is None or fields is None:
            return None
        entries: list[str] = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                entries.append(f"{key!r}: {object_type.name!r}")
                continue
            found = stored.fields.get(name)
            if found is None or any(node.arguments for node in nodes):
                return None  # a nested lookup (resolver) or arguments: the executor's job
            field_type = object_type.fields[name].type
            make = None
            if isinstance(found, Nested):
                child = _named(field_type)
                if not isinstance(child, GraphQLObjectType):
                    return None
                make = self._projector(child, [node.selection_set for node in nodes])
                if make is None:
                    return None
            elif any(node.selection_set for node in nodes):
                return None
            value = self._code.value(stored, name, make)
            serialize = None if make else _serializer(field_type)
            if serialize is not None:
                value = f"{self._code.bind(serialize, '_s')}({value})"
            entries.append(f"{key!r}: {value}")
        function = f"_project_{len(self._functions)}"
        check = self._code.check(stored)
        self._functions.append(
            f"def {function}({stored.arguments}):\n"
            + (f"    {check}\n" if check else "")
            + f"    return {{{', '.join(entries)}}}\n"
        )
        return function

    def _collect(
        self, object_type: GraphQLObjectType, selections: Sequence[SelectionSetNode | None]
    ) -> OrderedDict[str, list[FieldNode]] | None:
        """Fields by response key, in order, merged as graphql-core merges them; None for
        anything not compiled (directives, fragments on other types, unknown fields)."""
        fields: OrderedDict[str, list[FieldNode]] = OrderedDict()

        def visit(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> bool:
            if selection_set is None:
                return True
            for selection in selection_set.selections:
                if selection.directives:
                    return False
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    if name != "__typename" and name not in object_type.fields:
                        return False
                    key = selection.alias.value if selection.alias else name
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is not None and condition.name.value != object_type.name:
                        return False
                    if not visit(selection.selection_set, seen):
                        return False
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self._fragments.get(name)
                    if fragment is None or name in seen or fragment.directives:
                        return False
                    if fragment.type_condition.name.value != object_type.name:
                        return False
                    if not visit(fragment.selection_set, seen | {name}):
                        return False
                else:  # pragma: no cover - no other kind of selection exists
                    return False
            return True

        for selection_set in selections:
            if not visit(selection_set, frozenset()):
                return None
        return fields


def _nullable(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def compile_query(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> QueryPlan | None:
    """The plan of a validated document's query operation, or None when not compiled."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    if operation.directives:
        return None
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    roots = _Compiler(schema, fragments).compile(operation)
    return None if roots is None else QueryPlan(schema, operation, roots)


class PlanCache:
    """Query plans by (query text, operation name), least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, str | None], QueryPlan | None] = OrderedDict()
        self.compiled = 0
        """Documents compiled so far."""
        self.answered = 0
        """Requests answered by a plan (not left to the executor)."""

    def get(
        self, schema: GraphQLSchema, query: str, document: DocumentNode, operation: str | None
    ) -> QueryPlan | None:
        """The plan for a validated document (compiled on first use; None when not compiled)."""
        key = (query, operation)
        try:
            plan = self._plans[key]
        except KeyError:
            plan = compile_query(schema, document, operation)
            self.compiled += plan is not None
            self._plans[key] = plan
            if len(self._plans) > self._size:
                self._plans.popitem(last=False)
            return plan
        self._plans.move_to_end(key)
        return plan


class CompiledQueries(SchemaExtension):
    """Answers compiled queries before graphql-core would execute them.

    Strawberry skips execution when an `on_execute` hook set the result; a
    plan that falls back leaves it unset, and the executor runs as usual.
    """

    def __init__(self, cache: PlanCache) -> None:
        super().__init__()
        self._cache = cache

    async def on_execute(self) -> AsyncIterator[None]:
        """Run the plan (if any) before the executor would start."""
        context = self.execution_context
        if (
            context.query
            and context.graphql_document is not None
            and isinstance(context.context, GraphQLContext)
            and not context.pre_execution_errors
        ):
            schema = context.schema._schema
            plan = self._cache.get(
                schema, context.query, context.graphql_document, context.operation_name
            )
            if plan is not None:
                try:
                    data = await plan.run(context.context, context.variables)
                except Exception:  # Fallback, an ApiError, Redis: the executor answers
                    data = None
                if data is not None:
                    context.result = GraphQLExecutionResult(data=data, errors=None)
                    self._cache.answered += 1
        yield
