"""Asterisk's answer to an action, sorted: done, or refused and why.

The refusals are the ones a real Asterisk 22 gives (app_queue's manager
actions, as recorded): the kind decides the API's error code, the message
goes to the caller word for word.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class RefusalKind(Enum):
    """Why Asterisk said no, in the API's terms."""

    BAD_INPUT = "bad_input"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    # The manager user lacks the write class (least privilege): not the caller's fault.
    PERMISSION = "permission"


# Lower-case fragments of app_queue's and manager.c's error messages.
_KINDS: tuple[tuple[str, RefusalKind], ...] = (
    ("permission denied", RefusalKind.PERMISSION),
    ("already there", RefusalKind.CONFLICT),
    ("not dynamic", RefusalKind.CONFLICT),
    ("not there", RefusalKind.NOT_FOUND),
    ("interface not found", RefusalKind.NOT_FOUND),
    ("no such queue", RefusalKind.NOT_FOUND),
    ("invalid interface", RefusalKind.BAD_INPUT),
)


class AsteriskRefused(Exception):
    """Asterisk answered ``Response: Error``; nothing changed."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"Asterisk refused {action}: {message}")
        self.action = action
        self.asterisk_message = message
        self.kind = refusal_kind(message)


def refusal_kind(message: str) -> RefusalKind:
    """The kind of one of Asterisk's error messages (unknown ones are bad input)."""
    text = message.lower()
    return next((kind for fragment, kind in _KINDS if fragment in text), RefusalKind.BAD_INPUT)


def response_of(answer: Any) -> tuple[bool, str]:
    """(succeeded, Asterisk's message) of a panoramisk answer (a Message or a list)."""
    first = answer[0] if isinstance(answer, list) and answer else answer
    get = getattr(first, "get", None)
    if get is None:
        return False, "no answer"
    response = str(get("Response") or "").lower()
    return response in ("success", "follows", "goodbye"), str(get("Message") or "")
