"""Domain errors, shared by REST (status codes) and GraphQL (extension codes)."""

from __future__ import annotations


class ApiError(Exception):
    """An error a client can act on; the message is safe to show."""

    status_code = 400
    graphql_code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ApiError):
    """The request is malformed or names an unknown value."""


class NotFound(ApiError):
    """The entity does not exist."""

    status_code = 404
    graphql_code = "NOT_FOUND"


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
