"""Query limits and bounded caches, as schema extension factories.

Strawberry builds the extensions per operation from these factories (a shared
instance would leak one operation's execution context into another). The
validation rules are built once, so the validation cache recognises them.

The token limit makes graphql-core raise a *syntax* error, and
graphql-transport-ws closes the whole socket on a syntax error; the WebSocket
handler asks `is_token_limit_error` so a too-large operation fails alone.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    parse,
)
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

from api.settings import Settings

_TOKEN_LIMIT = re.compile(r"Document contains more than \d+ tokens")


@dataclass(frozen=True, slots=True)
class GraphQLOptions:
    """The schema-level knobs (from Settings in the app; defaults for the exported schema)."""

    introspection: bool = True
    max_depth: int = 10
    max_tokens: int = 2000
    max_aliases: int = 30
    cache_size: int = 256
    compiled: bool = True
    """Answer the queries that compile to projections without the executor."""

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphQLOptions:
        """The options the settings describe."""
        return cls(
            introspection=settings.graphql_introspection,
            max_depth=settings.graphql_max_depth,
            max_tokens=settings.graphql_max_tokens,
            max_aliases=settings.graphql_max_aliases,
            cache_size=settings.graphql_cache_size,
        )


class QueryLimits(SchemaExtension):
    """Caps lexical tokens while parsing and adds the depth/alias (and introspection) rules."""

    def __init__(self, *, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self._max_tokens = max_tokens
        self._rules = rules

    def on_operation(self) -> Iterator[None]:
        """Set the parse option and the rules before parsing and validation run."""
        context = self.execution_context
        # max_tokens also counts comments, so a flood of comments is cut short too.
        context.parse_options["max_tokens"] = self._max_tokens
        context.validation_rules = context.validation_rules + self._rules
        yield


class CachedParse(SchemaExtension):
    """Parses through a shared LRU cache; a document that does not parse is left to Strawberry.

    Strawberry's own ParserCache raises parse errors from its hook, outside the
    error handling of subscriptions: over a WebSocket the operation then ends
    without its error. Here a failed parse leaves the document unset, so
    Strawberry parses it again where the error is reported (cheap: the token
    limit stops early).
    """

    def __init__(self, parse_cached: Callable[..., DocumentNode]) -> None:
        super().__init__()
        self._parse = parse_cached

    def on_parse(self) -> Iterator[None]:
        """Fill in the document from the cache when it parses."""
        context = self.execution_context
        if context.query:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self._parse(context.query, **context.parse_options)
        yield


def validation_rules(options: GraphQLOptions) -> tuple[type[ASTValidationRule], ...]:
    """The validation rules the options add to GraphQL's own: depth, aliases, and no
    introspection when it is off."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(options.max_depth, None),
        alias_rule(options.max_aliases),
    ]
    if not options.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def limit_extensions(options: GraphQLOptions) -> list[Callable[[], SchemaExtension]]:
    """Factories of the limit and cache extensions, in the order they must run."""
    frozen_rules = validation_rules(options)
    size = options.cache_size
    parse_cached = functools.lru_cache(maxsize=size)(parse)

    def limits() -> SchemaExtension:
        return QueryLimits(max_tokens=options.max_tokens, rules=frozen_rules)

    def parser_cache() -> SchemaExtension:
        return CachedParse(parse_cached)

    def validation_cache() -> SchemaExtension:
        return ValidationCache(maxsize=size)

    return [limits, parser_cache, validation_cache]


def is_token_limit_error(error: GraphQLError) -> bool:
    """Whether `error` is the token limit's (not a real syntax error)."""
    return _TOKEN_LIMIT.search(error.message) is not None
