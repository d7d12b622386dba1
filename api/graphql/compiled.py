"""Compiled queries: a validated query over the stored JSON becomes a projection.

graphql-core executes a query field by field: for a thousand operators and
six fields that is tens of thousands of resolver calls, each with its own
`info`, completion and serialization step — a hundred times the cost of the
REST route that returns the same data. Most queries here need none of that:
they read a collection through the domain service and pick fields out of the
stored JSON. For those, the validated document is compiled once (as
graphql-jit does for JavaScript) into Python source: one function per
selection set that builds the response dict from a stored entity directly,
with each field converted exactly as the types in `api.graphql.types` and the
scalars and enums convert it (the same `str`/`bool`/`as_int` calls, enum
values upper-cased through the same enums, Asterisk's seconds to ms).

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

from api.auth import Action
from api.graphql.context import GraphQLContext
from api.graphql.enums import ChannelState, MembershipType, OperatorStatus
from api.graphql.scalars import as_int
from api.service import QueueStatusService, Replica
from ingest.patches import JsonObject

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class Fallback(Exception):
    """The compiled plan cannot answer exactly as the executor would: use the executor."""


# --- the converters the generated code calls (the same as types.py) -------------


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _b(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _i32(value: int | None) -> int | None:
    # GraphQL's Int is 32-bit: graphql-core reports an error for anything wider.
    if value is not None and not _INT_MIN <= value <= _INT_MAX:
        raise Fallback
    return value


def _f(value: Any) -> float | None:
    try:
        number = None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
    if number is not None and not math.isfinite(number):
        raise Fallback  # graphql-core refuses to serialize it
    return number


def _ts_s(value: Any) -> int | None:
    number = as_int(value)
    return None if not number else number * 1000


def _enum_names(enum: type[Enum]) -> dict[Any, str]:
    return {member.value: member.name for member in enum}


_STATUS = _enum_names(OperatorStatus)
_MEMBERSHIP = _enum_names(MembershipType)
_CHANNEL_STATE = _enum_names(ChannelState)


def _enum(names: dict[Any, str], value: Any, default: str) -> str:
    try:
        return names.get(value, default)
    except TypeError:  # unhashable: no member has it
        return default


def _status(value: Any) -> str:
    return _enum(_STATUS, value, OperatorStatus.UNKNOWN.name)


def _membership(value: Any) -> str | None:
    return None if value is None else _enum(_MEMBERSHIP, value, MembershipType.STATIC.name)


def _state(value: Any) -> str | None:
    return None if value is None else _enum(_CHANNEL_STATE, value, ChannelState.UNKNOWN.name)


def _operator_guard(entity: JsonObject) -> None:
    # Operator.from_json reads `queues` whatever the selection; only an object (or
    # nothing) surely reads without an error.
    if not isinstance(entity.get("queues") or {}, dict):
        raise Fallback


def _operator_guards(operators: Any) -> None:
    for operator in operators or []:
        _operator_guard(operator)


def _memberships(value: Any, project: Callable[[str, JsonObject], JsonObject]) -> list[JsonObject]:
    memberships = value or {}
    return [
        project(name, memberships[name])
        for name in sorted(memberships)
        if isinstance(memberships[name], dict)
    ]


_HELPERS: dict[str, Any] = {
    "_s": _s,
    "_b": _b,
    "_i": as_int,
    "_i32": _i32,
    "_f": _f,
    "_ts_s": _ts_s,
    "_status": _status,
    "_membership": _membership,
    "_state": _state,
    "_operator_guard": _operator_guard,
    "_operator_guards": _operator_guards,
    "_memberships": _memberships,
}

# --- what each type's fields are, as expressions over the stored JSON `g` (d.get) ---

# An expression per field; "{sub}" stands for the projector of the field's own
# selection. Types as `api.graphql.types` builds them from the stored JSON.
_FIELDS: dict[str, dict[str, str]] = {
    "Operator": {
        "memberId": "mid",
        "memberName": "str(g('memberName') or mid)",
        "stateInterface": "_s(g('stateInterface'))",
        "status": "_status(g('status'))",
        "paused": "bool(g('paused'))",
        "pausedReason": "_s(g('pausedReason'))",
        "queueName": "_s(g('queueName') or None)",
        "queues": "_memberships(g('queues'), {sub})",
        "currentCallId": "_s(g('currentCallId'))",
        "currentChannel": "_s(g('currentChannel'))",
        "statusSince": "_i(g('statusSince'))",
        "updatedAt": "_i(g('updatedAt'))",
        "version": "_i(g('version'))",
    },
    "QueueMembership": {
        "queueName": "str(g('queueName') or name)",
        "penalty": "_i32(_i(g('penalty')))",
        "paused": "bool(g('paused'))",
        "pausedReason": "_s(g('pausedReason'))",
        "callsTaken": "_i32(_i(g('callsTaken')))",
        "lastCall": "_ts_s(g('lastCall'))",
        "lastPause": "_ts_s(g('lastPause'))",
        "loginTime": "_ts_s(g('loginTime'))",
        "wrapupTime": "_i32(_i(g('wrapupTime')))",
        "wrapupUntil": "_ts_s(g('wrapupUntil'))",
        "membership": "_membership(g('membership'))",
        "inCall": "_b(g('inCall'))",
        "ringinuse": "_b(g('ringinuse'))",
    },
    "Caller": {
        "position": "_i32(_i(g('position')) or 0)",
        "uniqueId": "str(g('uniqueId', ''))",
        "channel": "_s(g('channel'))",
        "callerIdNum": "_s(g('callerIdNum'))",
        "callerIdName": "_s(g('callerIdName'))",
        "joinedAt": "_i(g('joinedAt'))",
        "waitSeconds": "_i32(_i(g('waitSeconds')) or 0)",
    },
    "MemberCounts": {
        name: f"_i32(_i(g({name!r})) or 0)"
        for name in ("total", "available", "inCall", "ringing", "paused", "unavailable")
    },
    "Queue": {
        "name": "str(g('name', ''))",
        "strategy": "_s(g('strategy'))",
        "callsWaiting": "_i32(_i(g('callsWaiting')) or 0)",
        "callers": "[{sub}(c) for c in g('callers') or ()]",
        "longestWaitSeconds": "_i32(_i(g('longestWaitSeconds')) or 0)",
        "holdTime": "_i32(_i(g('holdTime')))",
        "talkTime": "_i32(_i(g('talkTime')))",
        "completed": "_i32(_i(g('completed')) or 0)",
        "abandoned": "_i32(_i(g('abandoned')) or 0)",
        "serviceLevel": "_i32(_i(g('serviceLevel')))",
        "serviceLevelPerf": "_f(g('serviceLevelPerf'))",
        "wrapupTime": "_i32(_i(g('wrapupTime')))",
        "timeout": "_i32(_i(g('timeout')))",
        "maxLen": "_i32(_i(g('maxLen')))",
        "weight": "_i32(_i(g('weight')))",
        "members": "{sub}(g('members') or {{}})",
        "updatedAt": "_i(g('updatedAt'))",
        "version": "_i(g('version'))",
    },
    "Channel": {
        "name": "str(g('name', ''))",
        "uniqueId": "_s(g('uniqueId'))",
        "linkedId": "_s(g('linkedId'))",
        "state": "_state(g('state'))",
        "callerIdNum": "_s(g('callerIdNum'))",
        "callerIdName": "_s(g('callerIdName'))",
        "connectedLineNum": "_s(g('connectedLineNum'))",
        "connectedLineName": "_s(g('connectedLineName'))",
        "context": "_s(g('context'))",
        "exten": "_s(g('exten'))",
        "queueName": "_s(g('queueName'))",
        "memberId": "_s(g('memberId'))",
        "createdAt": "_i(g('createdAt'))",
        "answeredAt": "_i(g('answeredAt'))",
        "updatedAt": "_i(g('updatedAt'))",
        "version": "_i(g('version'))",
    },
    "Snapshot": {
        "operators": "[{sub}(o) for o in g('operators') or []]",
        "queues": "[{sub}(q) for q in g('queues') or []]",
        "channels": "[{sub}(c) for c in g('channels') or []]",
        "version": "_i(g('version')) or 0",
        "generatedAt": "_i(g('generatedAt')) or 0",
    },
}

# The arguments of each projector function, and what it sets up first.
_SIGNATURE: dict[str, tuple[str, str]] = {
    "Operator": ("d", "_operator_guard(d)\n    mid = str(g('memberId', ''))"),
    "QueueMembership": ("name, d", ""),
    # Snapshot.from_json builds every operator, whatever the selection.
    "Snapshot": ("d", "_operator_guards(g('operators'))"),
}


# --- root fields: the service call whose result the projection reads ------------

Fetch = Callable[[QueueStatusService, dict[str, Any], Replica | None], Any]


async def _operators(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None
) -> Any:
    status = args.get("status")
    return await service.operators(
        queue=args.get("queue"),
        status=None if status is None else str(status.value),
        paused=args.get("paused"),
        replica=replica,
    )


async def _operator(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None
) -> Any:
    return await service.operator(args["memberId"])


async def _channels(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None
) -> Any:
    return await service.channels(queue=args.get("queue"), replica=replica)


async def _queues(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None
) -> Any:
    return await service.queues(replica)


async def _queue(service: QueueStatusService, args: dict[str, Any], replica: Replica | None) -> Any:
    return await service.queue(args["name"])


async def _snapshot(
    service: QueueStatusService, args: dict[str, Any], replica: Replica | None
) -> Any:
    return await service.snapshot(replica)


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
class Plan:
    """A compiled query: its root fields and their projections."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    roots: tuple[_Root, ...]

    async def run(self, context: GraphQLContext, variables: dict[str, Any] | None) -> JsonObject:
        """The query's `data`; raises Fallback (or anything) where the executor must answer."""
        service = context.allow(Action.READ)
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
            found = await _ROOTS[root.field](service, args, context.replica())
            assert root.project is not None
            project = root.project
            data[root.key] = [project(item) for item in found] if root.is_list else project(found)
        return data


class _Compiler:
    """Builds the projector functions of one document."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self._schema = schema
        self._fragments = fragments
        self._source: list[str] = []
        self._count = 0

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
        namespace = dict(_HELPERS)
        exec(compile("\n".join(self._source), "<compiled query>", "exec"), namespace)  # noqa: S102  # our own generated code (names and literals only)
        return tuple(
            _Root(key, name, node, is_list, None if projector is None else namespace[projector])
            for key, name, node, is_list, projector in planned
        )

    def _projector(
        self, object_type: GraphQLObjectType, selections: Sequence[SelectionSetNode | None]
    ) -> str | None:
        """The name of the generated function projecting `object_type`, or None."""
        table = _FIELDS.get(object_type.name)
        fields = self._collect(object_type, selections)
        if table is None or fields is None:
            return None
        entries: list[str] = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                entries.append(f"{key!r}: {object_type.name!r}")
                continue
            template = table.get(name)
            if template is None or any(node.arguments for node in nodes):
                return None  # a nested lookup (resolver) or arguments: the executor's job
            sub = ""
            if "{sub}" in template:
                child = _named(object_type.fields[name].type)
                if not isinstance(child, GraphQLObjectType):
                    return None
                found = self._projector(child, [node.selection_set for node in nodes])
                if found is None:
                    return None
                sub = found
            elif any(node.selection_set for node in nodes):
                return None
            entries.append(f"{key!r}: {template.format(sub=sub)}")
        self._count += 1
        function = f"_project_{self._count}"
        arguments, setup = _SIGNATURE.get(object_type.name, ("d", ""))
        body = ", ".join(entries)
        self._source.append(
            f"def {function}({arguments}):\n    g = d.get\n    {setup}\n    return {{{body}}}\n"
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
) -> Plan | None:
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
    return None if roots is None else Plan(schema, operation, roots)


class PlanCache:
    """Plans by (query text, operation name), least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self.compiled = 0
        """Documents compiled so far."""
        self.answered = 0
        """Requests answered by a plan (not left to the executor)."""

    def get(
        self, schema: GraphQLSchema, query: str, document: DocumentNode, operation: str | None
    ) -> Plan | None:
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
