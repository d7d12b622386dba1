"""The write command REST and GraphQL both build: an operator's status, set by a person.

`OperatorStatusBody` is the wire shape of "set an operator's status" — REST
POST /operators' body, and what GraphQL's `setOperatorStatus` input is
validated as — with every rule in one place (lengths, one-line strings, JSON's
own types). Its `command()` is the one command both hand to the service:
ingest's `OperatorStatusSet`, which goes through the reducer like an AMI event.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.views import parse_status
from ingest.reducer.manual import OperatorStatusSet


def _no_control_characters(value: str | None) -> str | None:
    # CR/LF could split an AMI action or a log line further down: refuse them here.
    if value is not None and any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain CR, LF or NUL characters")
    return value


class OperatorStatusBody(BaseModel):
    """The runbook's "imitate an AMI event" body. `updatedAt` is accepted and ignored:
    the server stamps its own time."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    member_id: str = Field(alias="memberId", min_length=1, max_length=256)
    status: str = Field(min_length=1, max_length=32)
    member_name: str | None = Field(default=None, alias="memberName", max_length=256)
    queue_name: str | None = Field(default=None, alias="queueName", max_length=128)
    # Strict: JSON's own types only (a string "true" or a boolean updatedAt is refused,
    # as the OpenAPI document says; found by schemathesis, reliability item 7).
    paused: bool | None = Field(default=None, strict=True)
    paused_reason: str | None = Field(default=None, alias="pausedReason", max_length=256)
    current_call_id: str | None = Field(default=None, alias="currentCallId", max_length=256)
    updated_at: int | None = Field(default=None, alias="updatedAt", strict=True)

    _clean = field_validator(
        "member_id", "status", "member_name", "queue_name", "paused_reason", "current_call_id"
    )(_no_control_characters)

    def command(self) -> OperatorStatusSet:
        """The command (unknown status → BadInput). `pause_queues` is left to the service:
        it resolves "all of the operator's queues" when `paused` names no queue."""
        return OperatorStatusSet(
            member_id=self.member_id,
            status=parse_status(self.status),
            queue_name=self.queue_name or None,
            member_name=self.member_name or None,
            paused=self.paused,
            paused_reason=self.paused_reason,
            current_call_id=self.current_call_id or None,
        )
