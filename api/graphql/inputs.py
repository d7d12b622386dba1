"""Mutation inputs, validated exactly as the REST router validates the same body."""

from __future__ import annotations

import strawberry
from pydantic import ValidationError

from api.commands import OperatorStatusBody
from api.errors import BadInput
from api.graphql.enums import OperatorStatus
from ingest.reducer.manual import OperatorStatusSet


@strawberry.input(
    description=(
        "An operator's status, stated as an AMI event would (the runbook's \"imitate an AMI "
        'event" body). It goes through the reducer, like REST POST /operators.'
    )
)
class SetOperatorStatusInput:
    """The REST body's fields, in GraphQL."""

    member_id: str = strawberry.field(description="The interface, e.g. `PJSIP/1001` (1-256).")
    status: OperatorStatus = strawberry.field(description="The new status.")
    queue_name: str | None = strawberry.field(
        default=None, description="The queue the statement is about (it becomes the primary)."
    )
    member_name: str | None = strawberry.field(default=None, description="Display name.")
    paused: bool | None = strawberry.field(
        default=None,
        description="Pause (true) or unpause (false): in `queueName`, else in all its queues.",
    )
    paused_reason: str | None = strawberry.field(default=None, description="Why it is paused.")
    current_call_id: str | None = strawberry.field(
        default=None, description="Unique id of the call it is on."
    )

    def command(self) -> OperatorStatusSet:
        """The command, validated as the REST body; BadInput (nothing written) when a
        field is invalid."""
        body = {
            "memberId": self.member_id,
            "status": self.status.value,
            "queueName": self.queue_name,
            "memberName": self.member_name,
            "paused": self.paused,
            "pausedReason": self.paused_reason,
            "currentCallId": self.current_call_id,
        }
        try:
            return OperatorStatusBody.model_validate(body).command()
        except ValidationError as exc:
            problems = [
                f"{_field_name(problem['loc'])}: {problem['msg']}"
                for problem in exc.errors(include_input=False, include_url=False)
            ]
            raise BadInput("; ".join(problems) or "invalid input") from None


def _field_name(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "input"
