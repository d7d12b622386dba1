"""The Mutation root: the same writes as REST, through the same service and policy."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.auth import Action
from api.graphql import console
from api.graphql import fields as resolver
from api.graphql.console import (
    ActionResult,
    AddQueueMemberInput,
    ListenToOperatorInput,
    PauseOperatorInput,
    RemoveQueueMemberInput,
    SetMemberPenaltyInput,
    UnpauseOperatorInput,
)
from api.graphql.context import Info
from api.graphql.inputs import SetOperatorStatusInput
from api.graphql.pbx import PbxArgument
from api.graphql.reports import ClearResult, SyncReport
from api.graphql.types import Operator


@strawberry.type(
    description=(
        "Write the live state, or act on Asterisk. With API_TOKENS set, setOperatorStatus "
        "and the supervisor actions (pause, unpause, penalty, listen) need a supervisor "
        "token; addQueueMember, removeQueueMember, resync and clear an admin token "
        "(`Authorization: Bearer <token>`); a token scoped to queues acts on those only. "
        "Errors carry `extensions.code`: BAD_USER_INPUT (invalid input, nothing sent), "
        "UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT (e.g. Asterisk's \"Member not "
        'dynamic"), UNAVAILABLE (Redis, the database or AMI is down, or no ingest leader '
        "took a relayed action in time; retry after `extensions.retryAfterSeconds`), "
        "GATEWAY_TIMEOUT (the ingest leader took a relayed action but did not answer in "
        "time: it may have been done); Asterisk's own words are in "
        "`extensions.asteriskMessage`."
    )
)
class Mutation:
    """Writes; each resolver checks the policy, then calls `QueueStatusService`."""

    @resolver.mutation(
        "Override the board, not Asterisk: set an operator's status as an AMI event would, "
        "through the reducer, then the store (subscribers see the change; the next "
        "reconciliation with Asterisk may undo it). To pause on Asterisk use pauseOperator. "
        "Returns the operator. REST: POST /operators."
    )
    async def set_operator_status(
        self,
        info: Info,
        input: Annotated[SetOperatorStatusInput, strawberry.argument(description="What to set.")],
        pbx: PbxArgument = None,
    ) -> Operator:
        """`service.set_operator_status`."""
        ctx = info.context.acting_at(pbx, info)
        grant = ctx.grant(Action.SET_STATUS)
        return Operator.from_json(await ctx.service.set_operator_status(input.command(), grant))

    @resolver.mutation(
        "Reload the queue configuration from the database and, with AMI, take a new "
        "snapshot from Asterisk. REST: POST /sync/resync."
    )
    async def resync(self, info: Info, pbx: PbxArgument = None) -> SyncReport:
        """`service.resync`."""
        ctx = info.context.acting_at(pbx, info)
        report = await ctx.allow(Action.ADMIN).resync()
        return SyncReport.from_json(report.as_json())

    @resolver.mutation(
        "Remove the live state from Redis (our keys only, never FLUSHALL); returns what "
        "was removed. REST: DELETE /clear."
    )
    async def clear(self, info: Info, pbx: PbxArgument = None) -> ClearResult:
        """`service.clear`."""
        ctx = info.context.acting_at(pbx, info)
        return ClearResult.from_json(await ctx.allow(Action.ADMIN).clear())

    @resolver.mutation(
        "Pause an operator on Asterisk (QueuePause, Paused: true, Reason) in `queue`, or in "
        "every queue of theirs your token covers. Supervisor. REST: POST "
        "/operators/{memberId}/pause."
    )
    async def pause_operator(
        self,
        info: Info,
        input: Annotated[
            PauseOperatorInput, strawberry.argument(description="The action's fields.")
        ],
        pbx: PbxArgument = None,
    ) -> ActionResult:
        """`SupervisorConsole.pause`."""
        ctx = info.context.acting_at(pbx, info)
        return await console.pause_operator(ctx, input)

    @resolver.mutation(
        "Unpause an operator on Asterisk (QueuePause, Paused: false). Supervisor. REST: POST "
        "/operators/{memberId}/unpause."
    )
    async def unpause_operator(
        self,
        info: Info,
        input: Annotated[
            UnpauseOperatorInput, strawberry.argument(description="The action's fields.")
        ],
        pbx: PbxArgument = None,
    ) -> ActionResult:
        """`SupervisorConsole.pause`."""
        ctx = info.context.acting_at(pbx, info)
        return await console.unpause_operator(ctx, input)

    @resolver.mutation(
        "Put an interface into a queue: QueueAdd, or for a realtime queue a new "
        "`queue_members` row that Asterisk is then made to reload. Admin. REST: POST "
        "/queues/{name}/members."
    )
    async def add_queue_member(
        self,
        info: Info,
        input: Annotated[
            AddQueueMemberInput, strawberry.argument(description="The action's fields.")
        ],
        pbx: PbxArgument = None,
    ) -> ActionResult:
        """`SupervisorConsole.add_member`."""
        ctx = info.context.acting_at(pbx, info)
        return await console.add_queue_member(ctx, input)

    @resolver.mutation(
        "Take an interface out of a queue: QueueRemove, or for a realtime member the "
        "deletion of its `queue_members` row. Admin. REST: DELETE "
        "/queues/{name}/members/{interface}."
    )
    async def remove_queue_member(
        self,
        info: Info,
        input: Annotated[
            RemoveQueueMemberInput, strawberry.argument(description="The action's fields.")
        ],
        pbx: PbxArgument = None,
    ) -> ActionResult:
        """`SupervisorConsole.remove_member`."""
        ctx = info.context.acting_at(pbx, info)
        return await console.remove_queue_member(ctx, input)

    @resolver.mutation(
        "Change a member's penalty in a queue (QueuePenalty). Supervisor. REST: PUT "
        "/queues/{name}/members/{interface}/penalty."
    )
    async def set_member_penalty(
        self,
        info: Info,
        input: Annotated[
            SetMemberPenaltyInput, strawberry.argument(description="The action's fields.")
        ],
        pbx: PbxArgument = None,
    ) -> ActionResult:
        """`SupervisorConsole.set_penalty`."""
        ctx = info.context.acting_at(pbx, info)
        return await console.set_member_penalty(ctx, input)

    @resolver.mutation(
        "Ring the supervisor's phone into ChanSpy on the operator's call (Originate; "
        "LISTEN = q, WHISPER = qw, BARGE = qB). Confirmed by ChanSpyStart, once the "
        "supervisor answers: usually `pending`. Supervisor. REST: POST "
        "/operators/{memberId}/listen."
    )
    async def listen_to_operator(
        self,
        info: Info,
        input: Annotated[
            ListenToOperatorInput, strawberry.argument(description="The action's fields.")
        ],
        pbx: PbxArgument = None,
    ) -> ActionResult:
        """`SupervisorConsole.listen`."""
        ctx = info.context.acting_at(pbx, info)
        return await console.listen_to_operator(ctx, input)
