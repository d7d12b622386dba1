"""Errors as clients see them: every GraphQL error carries an `extensions.code`.

Resolvers let the domain's ApiError subclasses propagate; the schema's
`process_errors` (every error of every operation passes there before it is
formatted) calls `annotate()`, which maps them to their `graphql_code`
(BAD_USER_INPUT, NOT_FOUND, UNAUTHENTICATED, FORBIDDEN, UNAVAILABLE) and codes
the errors GraphQL itself raises. Anything unexpected is logged with its
traceback; an exception of ours is shown only as "Internal server error".
"""

from __future__ import annotations

from collections.abc import Iterable

from graphql import GraphQLError, GraphQLSyntaxError

from api.broadcast import SubscriberOverflow
from api.errors import ApiError, Unavailable
from ingest.logs import get_logger

log = get_logger("GraphQL")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
INTERNAL = "INTERNAL_SERVER_ERROR"


def error_code(error: GraphQLError) -> str:
    """The code a client sees for `error`."""
    original = error.original_error
    if isinstance(original, ApiError):
        return original.graphql_code
    if isinstance(original, SubscriberOverflow):
        return SUBSCRIBER_TOO_SLOW
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if isinstance(error, GraphQLSyntaxError) or isinstance(original, GraphQLSyntaxError):
        return PARSE_FAILED
    if _from_graphql(error) and error.path is None:
        # Before execution: validation, or a variable that does not coerce.
        return BAD_USER_INPUT if error.message.startswith("Variable '$") else VALIDATION_FAILED
    return INTERNAL


def _from_graphql(error: GraphQLError) -> bool:
    # graphql-core's own errors (they may wrap one another), not an exception of ours.
    return error.original_error is None or isinstance(error.original_error, GraphQLError)


def annotate(errors: Iterable[GraphQLError]) -> None:
    """Give each error its code (idempotent); log and mask unexpected ones."""
    for error in errors:
        if "code" in (error.extensions or {}):
            continue
        code = error_code(error)
        extensions = dict(error.extensions or {})
        extensions["code"] = code
        original = error.original_error
        if isinstance(original, Unavailable):
            extensions["retryAfterSeconds"] = original.retry_after_seconds
        if isinstance(original, ApiError) and original.asterisk_message is not None:
            extensions["asteriskMessage"] = original.asterisk_message
        if code == INTERNAL:
            log.error(
                "Unexpected error at %s: %s",
                ".".join(str(p) for p in error.path or ()) or "operation",
                error.message,
                exc_info=original,
            )
            if not _from_graphql(error):
                error.message = "Internal server error"  # ours may say too much
        error.extensions = extensions
