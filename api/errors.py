"""Domain errors, shared by REST (status codes) and GraphQL (extension codes)."""

from __future__ import annotations


class ApiError(Exception):
    """An error a client can act on; the message is safe to show."""

    status_code = 400
    graphql_code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, asterisk_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Asterisk's own words when it refused an action (shown as `asteriskMessage`).
        self.asterisk_message = asterisk_message


class BadInput(ApiError):
    """The request is malformed or names an unknown value."""


class NotFound(ApiError):
    """The entity does not exist."""

    status_code = 404
    graphql_code = "NOT_FOUND"


class Conflict(ApiError):
    """The request cannot be done in the current state (e.g. "Member not dynamic")."""

    status_code = 409
    graphql_code = "CONFLICT"


class Unauthenticated(ApiError):
    """A token is required and none (or an unknown one) was given."""

    status_code = 401
    graphql_code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    """The caller may not do this."""

    status_code = 403
    graphql_code = "FORBIDDEN"


class Unavailable(ApiError):
    """A backing service (Redis, the database) is down; retry later."""

    status_code = 503
    graphql_code = "UNAVAILABLE"
    retry_after_seconds = 5


class GatewayTimeout(Unavailable):
    """A service we asked took the request but did not answer in time: it may have acted
    (the elected ingest running a relayed supervisor action)."""

    status_code = 504
    graphql_code = "GATEWAY_TIMEOUT"
