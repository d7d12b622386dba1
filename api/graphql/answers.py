"""The answer cache: a query's serialized HTTP answer, kept per store version and scope.

Dashboards send the same few queries again and again; while the store stays
at one version their answers are the same bytes. An answer is kept under

    (document, operation name, variables as canonical JSON, the caller's scope,
     each PBX read: its name, its mirror's load and the store's version)

and served only while every PBX it read is still at that version, so a
change never leaves a stale answer in sight: invalidation is exact, not
timed. The scope is what decides what a token sees (role, queues, PBX
entries — `Grant`): two tokens with the same scope share answers, a token
never sees another scope's. The mirror's load count is in the key because a
reload (Redis lost its state and was rebuilt) may reach an old version
number again with other data.

Which documents may be cached is decided here, in one place
(`AnswerRule`): a query whose root fields all read the live store and whose
selection holds nothing that moves with the clock. Everything else — the
call-record KPIs, alerts, the audit log, health, PBXes, `access`,
introspection, nested lookups, mutations, subscriptions — is answered as
always and never kept. Only answers without errors are kept.

Bounded in entries and bytes (the answers' bodies; a key adds its document,
which GRAPHQL_MAX_TOKENS bounds), least recently used dropped first; hits,
misses, evictions, entries and bytes are exported at /metrics.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
    get_operation_ast,
    get_variable_values,
    parse,
)
from prometheus_client import CollectorRegistry, Counter, Gauge

from api.graphql.compiled import compile_query

STORE_ROOTS = frozenset({"operators", "operator", "channels", "queues", "queue", "snapshot"})
"""Root fields whose answer is a function of the live store at one version and the
token's scope. Any other root field (KPIs and records from PostgreSQL, alerts, audit,
health, PBXes, access, introspection) makes a document uncacheable."""

MIRROR_ROOTS = frozenset({"operators", "channels", "queues", "snapshot"})
"""The store roots the domain service answers from a current live mirror."""

CLOCK_FIELDS = frozenset(
    {
        ("Caller", "waitSeconds"),
        ("Queue", "longestWaitSeconds"),
        ("Snapshot", "generatedAt"),
    }
)
"""Fields computed from the clock when the answer is made: a document that selects one
is never cached (its answer changes while the store does not)."""


@dataclass(frozen=True, slots=True)
class CacheableDocument:
    """A document the rule lets the cache keep: its operation and root fields."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    roots: tuple[FieldNode, ...]

    @property
    def mirror_only(self) -> bool:
        """Whether every root field reads its PBX's mirror when it is current (the
        collections; `operator` and `queue` read Redis): pinned at a version
        (`api.service.PINNED`), such a document is computed from that version alone."""
        return all(root.name.value in MIRROR_ROOTS for root in self.roots)

    def pbxes(self, variables: dict[str, Any] | None) -> tuple[str | None, ...] | None:
        """The `pbx` argument of each root field (None: the default PBX) with these
        variables; None when the variables do not coerce (the executor reports it)."""
        coerced = get_variable_values(
            self.schema, self.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return None
        query_type = self.schema.query_type
        assert query_type is not None
        found: list[str | None] = []
        for root in self.roots:
            try:
                args = get_argument_values(query_type.fields[root.name.value], root, coerced)
            except GraphQLError:
                return None
            pbx = args.get("pbx")
            found.append(pbx if isinstance(pbx, str) else None)
        return tuple(dict.fromkeys(found))


class AnswerRule:
    """Which documents may be cached (see the module's doc), decided once per document."""

    def __init__(self, schema: GraphQLSchema, *, max_tokens: int, size: int) -> None:
        self._schema = schema
        self._max_tokens = max_tokens
        self._size = size
        self._seen: OrderedDict[tuple[str, str | None], CacheableDocument | None] = OrderedDict()

    def known(
        self, query: str, operation_name: str | None
    ) -> tuple[bool, CacheableDocument | None]:
        """(classified before, its verdict: None when never cacheable)."""
        key = (query, operation_name)
        if key not in self._seen:
            return False, None
        self._seen.move_to_end(key)
        return True, self._seen[key]

    def classify(self, query: str, operation_name: str | None) -> CacheableDocument | None:
        """Classify a document the executor answered without errors (so it is valid)."""
        key = (query, operation_name)
        if key in self._seen:
            return self._seen[key]
        verdict = self._classify(query, operation_name)
        self._seen[key] = verdict
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return verdict

    def _classify(self, query: str, operation_name: str | None) -> CacheableDocument | None:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            return None
        return cacheable(self._schema, document, operation_name)


def cacheable(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> CacheableDocument | None:
    """The rule: a query operation the compiler projects from stored fields (no nested
    lookups, no directives), whose root fields are all `STORE_ROOTS`, selecting none of
    `CLOCK_FIELDS`. None: never cached."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    if compile_query(schema, document, operation_name) is None:
        return None  # nested lookups, directives, other roots: the executor's
    query_type = schema.query_type
    if query_type is None:
        return None
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    roots = [
        node
        for node in _fields(operation.selection_set, fragments)
        if node.name.value != "__typename"
    ]
    if any(root.name.value not in STORE_ROOTS for root in roots):
        return None
    for root in roots:
        if _reads_clock(schema, query_type.fields[root.name.value].type, root, fragments):
            return None
    return CacheableDocument(schema, operation, tuple(roots))


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> Iterable[FieldNode]:
    """The fields of a selection set, through fragments (the compiler took only those on
    the object's own type, without cycles)."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _fields(fragment.selection_set, fragments)


def _reads_clock(
    schema: GraphQLSchema,
    field_type: Any,
    node: FieldNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    named = field_type
    while hasattr(named, "of_type"):
        named = named.of_type
    if not isinstance(named, GraphQLObjectType):
        return False
    for child in _fields(node.selection_set, fragments):
        name = child.name.value
        if name == "__typename":
            continue
        if (named.name, name) in CLOCK_FIELDS:
            return True
        if _reads_clock(schema, named.fields[name].type, child, fragments):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as the executor's route sent it: status, headers, body."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def size(self) -> int:
        """Bytes it holds (the body; headers are a few dozen bytes)."""
        return len(self.body)


class AnswerMetrics:
    """The cache's counters at /metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter(
            "queue_status_graphql_answer_cache_hits_total",
            "GraphQL queries answered from the answer cache",
            registry=registry,
        )
        self.misses = Counter(
            "queue_status_graphql_answer_cache_misses_total",
            "Cacheable GraphQL queries the executor answered (then kept when exact)",
            registry=registry,
        )
        self.evictions = Counter(
            "queue_status_graphql_answer_cache_evictions_total",
            "Answers dropped to stay within GRAPHQL_ANSWER_CACHE entries or bytes",
            registry=registry,
        )
        self.entries = Gauge(
            "queue_status_graphql_answer_cache_entries",
            "Answers kept in the GraphQL answer cache",
            registry=registry,
        )
        self.bytes = Gauge(
            "queue_status_graphql_answer_cache_bytes",
            "Bytes of the answers kept in the GraphQL answer cache",
            registry=registry,
        )


class AnswerCache:
    """Answers by key, bounded in entries and bytes, least recently used dropped first."""

    def __init__(
        self, *, max_entries: int, max_bytes: int, metrics: AnswerMetrics | None = None
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._metrics = metrics
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: Hashable) -> Answer | None:
        """The answer kept under `key` (counted as a hit), or None."""
        found = self._answers.get(key)
        if found is not None:
            self._answers.move_to_end(key)
            self.hits += 1
            if self._metrics is not None:
                self._metrics.hits.inc()
        return found

    def shared(self) -> None:
        """Count a hit on an answer another request was computing when this one came."""
        self.hits += 1
        if self._metrics is not None:
            self._metrics.hits.inc()

    def missed(self) -> None:
        """Count a cacheable query the executor had to answer."""
        self.misses += 1
        if self._metrics is not None:
            self._metrics.misses.inc()

    def put(self, key: Hashable, answer: Answer) -> None:
        """Keep `answer`; older ones go while the cache is over its bounds. An answer
        larger than the whole byte budget is not kept."""
        if answer.size > self.max_bytes or self.max_entries <= 0:
            return
        previous = self._answers.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        self._answers[key] = answer
        self.bytes += answer.size
        while len(self._answers) > self.max_entries or self.bytes > self.max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self.bytes -= dropped.size
            self.evictions += 1
            if self._metrics is not None:
                self._metrics.evictions.inc()
        if self._metrics is not None:
            self._metrics.entries.set(len(self._answers))
            self._metrics.bytes.set(self.bytes)
