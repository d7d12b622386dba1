"""The Mutation root: the same writes as REST, through the same service and policy."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.auth import Action
from api.graphql import fields as resolver
from api.graphql.context import Info
from api.graphql.inputs import SetOperatorStatusInput
from api.graphql.reports import ClearResult, SyncReport
from api.graphql.types import Operator


@strawberry.type(
    description=(
        "Write the live state. With API_TOKENS set, setOperatorStatus needs a supervisor "
        "token and resync/clear an admin token (`Authorization: Bearer <token>`). Errors "
        "carry `extensions.code`: BAD_USER_INPUT (invalid input, nothing written), "
        "UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, UNAVAILABLE (Redis or the database is down; "
        "retry after `extensions.retryAfterSeconds`)."
    )
)
class Mutation:
    """Writes; each resolver checks the policy, then calls `QueueStatusService`."""

    @resolver.mutation(
        "Set an operator's status as an AMI event would: through the reducer, then the "
        "store (subscribers see the change). Returns the operator. REST: POST /operators."
    )
    async def set_operator_status(
        self,
        info: Info,
        input: Annotated[SetOperatorStatusInput, strawberry.argument(description="What to set.")],
    ) -> Operator:
        """`service.set_operator_status`."""
        service = info.context.allow(Action.SET_STATUS)
        return Operator.from_json(await service.set_operator_status(input.command()))

    @resolver.mutation(
        "Reload the queue configuration from the database and, with AMI, take a new "
        "snapshot from Asterisk. REST: POST /sync/resync."
    )
    async def resync(self, info: Info) -> SyncReport:
        """`service.resync`."""
        report = await info.context.allow(Action.ADMIN).resync()
        return SyncReport.from_json(report.as_json())

    @resolver.mutation(
        "Remove the live state from Redis (our keys only, never FLUSHALL); returns what "
        "was removed. REST: DELETE /clear."
    )
    async def clear(self, info: Info) -> ClearResult:
        """`service.clear`."""
        return ClearResult.from_json(await info.context.allow(Action.ADMIN).clear())
