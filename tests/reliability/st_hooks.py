"""Schemathesis hooks of the suite (``SCHEMATHESIS_HOOKS=tests.reliability.st_hooks``).

`no_internal_error`: a GraphQL answer may carry errors — an unknown operator is
NOT_FOUND, a bad argument BAD_USER_INPUT — but never a 5xx, and never an error
without a code or coded INTERNAL_SERVER_ERROR (schemathesis' own GraphQL check
counts every error as a server error).
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check  # type: ignore[untyped-decorator,unused-ignore]  # untyped without the reliability extra
def no_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx and no internal error in the body."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return None
    for error in (body or {}).get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code in (None, "INTERNAL_SERVER_ERROR"):
            raise AssertionError(f"{code}: {error.get('message')}")
    return None
