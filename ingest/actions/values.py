"""Every value an action sends to Asterisk, checked first.

An AMI action is lines of ``Key: value``: a CR or LF in a value would end the
line and smuggle in a header of the caller's choosing (another Action, say),
and a NUL ends the string in C. Beyond that, each value must have the form
Asterisk accepts for its field, so a typo is our clear error rather than
Asterisk's vague one — or worse, a valid action on something else.
"""

from __future__ import annotations

import re

MAX_PENALTY = 2_147_483_647
"""Asterisk keeps a penalty in a C int and refuses a negative one."""
MAX_REASON = 80
"""The realtime table's ``reason_paused`` is 80 characters (and so is the board's field)."""

# The forms, as regular expressions that JSON Schema (the OpenAPI document) reads too.
QUEUE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,79}$"
"""Queue names: what queues.conf sections and realtime rows use in practice. A comma
or a pipe would break Queue()'s arguments and the queue_log's fields."""
INTERFACE_PATTERN = r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.@+#*:/=-]{1,79}$"
"""Tech/resource: PJSIP/1001, SIP/alice, Local/1001@agents/n."""
STATE_INTERFACE_PATTERN = r"^[A-Za-z][A-Za-z0-9]{0,15}[/:][A-Za-z0-9_.@+#*:/=-]{1,79}$"
"""An interface, or a state-only one: Custom:1001, hint:1001@ext-local."""
EXTENSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+#*-]{0,39}$"
"""A supervisor's phone as a bare extension (dialled as PJSIP/<ext>)."""
EXTENSION_OR_CHANNEL_PATTERN = (
    r"^(?:[A-Za-z0-9][A-Za-z0-9_.+#*-]{0,39}"
    r"|[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.@+#*:/=-]{1,79})$"
)
"""What `extension` accepts: a bare extension or an interface."""
TEXT_PATTERN = r"^[^|\u0000-\u001f\u007f-\u009f\u2028\u2029]{0,80}$"
"""A reason or a name: one line of at most 80 characters, no control characters, no
line or paragraph separator, no ``|`` (the queue_log's separator)."""

_QUEUE = re.compile(QUEUE_PATTERN)
_INTERFACE = re.compile(INTERFACE_PATTERN)
_STATE_INTERFACE = re.compile(STATE_INTERFACE_PATTERN)
# A channel name as Asterisk makes it: Tech/resource-0000001a, Local/1001@agents-0000000c;1.
_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.@+#*:/=;-]{1,120}$")
_EXTENSION = re.compile(EXTENSION_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)


class InvalidValue(ValueError):
    """A value an action cannot send; `field` names it (the API's input name)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _one_line(field: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidValue(field, "must not contain CR, LF or NUL characters")
    return value


def queue_name(value: str, field: str = "queue") -> str:
    """A queue name Asterisk accepts."""
    value = _one_line(field, value).strip()
    if not _QUEUE.match(value):
        raise InvalidValue(
            field, "must be 1-80 characters: letters, digits and _ . @ + - (no spaces)"
        )
    return value


def interface(value: str, field: str = "interface") -> str:
    """A member interface, ``Tech/resource`` (PJSIP/1001, Local/1001@agents/n)."""
    value = _one_line(field, value).strip()
    if not _INTERFACE.match(value):
        raise InvalidValue(field, "must look like Tech/resource, e.g. PJSIP/1001")
    return value


def state_interface(value: str, field: str = "stateInterface") -> str:
    """A device state interface (PJSIP/1001, Custom:1001, hint:1001@ext-local)."""
    value = _one_line(field, value).strip()
    if not _STATE_INTERFACE.match(value):
        raise InvalidValue(field, "must look like PJSIP/1001, Custom:1001 or hint:1001@context")
    return value


def member_name(value: str, field: str = "memberName") -> str:
    """A member's display name (`TEXT_PATTERN`, not blank)."""
    value = _one_line(field, value).strip()
    if not value or not _TEXT.match(value):
        raise InvalidValue(
            field, "must be 1-80 characters on one line, without control characters or '|'"
        )
    return value


def penalty(value: int, field: str = "penalty") -> int:
    """A penalty: an integer from 0 to 2147483647."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, "must be an integer")
    if not 0 <= value <= MAX_PENALTY:
        raise InvalidValue(field, f"must be between 0 and {MAX_PENALTY}")
    return value


def pause_reason(value: str | None, allowed: tuple[str, ...] = (), field: str = "reason") -> str:
    """A pause reason (`TEXT_PATTERN`); one of `allowed` when that list is set. None or
    blank: no reason."""
    text = _one_line(field, value or "").strip()
    if not _TEXT.match(text):
        raise InvalidValue(
            field,
            f"must be at most {MAX_REASON} characters on one line, without control "
            "characters or '|'",
        )
    if allowed and text and text not in allowed:
        raise InvalidValue(field, "must be one of: " + ", ".join(allowed))
    return text


def channel(value: str, field: str = "channel") -> str:
    """A channel name as Asterisk reports it."""
    value = _one_line(field, value).strip()
    if not _CHANNEL.match(value):
        raise InvalidValue(field, "is not a channel name Asterisk would report")
    return value


def extension(value: str, field: str = "extension") -> str:
    """A supervisor's phone as a channel to dial: `1009` → `PJSIP/1009`; a channel
    (`PJSIP/1009`, `Local/1009@from-internal`) is kept."""
    value = _one_line(field, value).strip()
    if "/" in value:
        return interface(value, field)
    if not _EXTENSION.match(value):
        raise InvalidValue(field, "must be an extension (e.g. 1009) or a channel (PJSIP/1009)")
    return f"PJSIP/{value}"
