"""The Query root: one-liners over the domain service, the same data as the REST router."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.auth import Action
from api.graphql import fields as resolver
from api.graphql.context import Info
from api.graphql.enums import OperatorStatus
from api.graphql.grants import Access
from api.graphql.pbx import PbxArgument
from api.graphql.reports import SyncStatus
from api.graphql.types import Channel, Operator, Queue, Snapshot


@strawberry.type(
    description=(
        "Read the live state. Every field reads Redis when asked; for live updates use the "
        "subscriptions. Reads are open unless a viewer token is configured (API_TOKENS). "
        "A token scoped to some queues sees only their operators (with those memberships "
        "only), queues and channels; anything else is absent (NOT_FOUND). "
        "Errors carry `extensions.code` (NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE, "
        "GRAPHQL_VALIDATION_FAILED, …)."
    )
)
class Query:
    """Reads; each resolver is one call to `QueueStatusService` (collections from the live
    mirror when it is current, see `api.service.Replica`) with the operation's `Grant`."""

    @resolver.field("Operators, optionally filtered; sorted by memberId. REST: GET /operators.")
    async def operators(
        self,
        info: Info,
        queue: Annotated[
            str | None, strawberry.argument(description="Only members of this queue.")
        ] = None,
        status: Annotated[
            OperatorStatus | None, strawberry.argument(description="Only operators in this state.")
        ] = None,
        paused: Annotated[
            bool | None,
            strawberry.argument(description="Only paused (true) or not paused (false) ones."),
        ] = None,
        pbx: PbxArgument = None,
    ) -> list[Operator]:
        """`service.operators`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        wanted = None if status is None else str(status.value)
        found = await ctx.service.operators(
            queue=queue, status=wanted, paused=paused, replica=ctx.replica(), grant=grant
        )
        return Operator.many(found)

    @resolver.field(
        "One operator; null with a NOT_FOUND error when there is none. "
        "REST: GET /operators/{memberId}."
    )
    async def operator(
        self,
        info: Info,
        member_id: Annotated[
            str, strawberry.argument(description="The interface, e.g. `PJSIP/1001`.")
        ],
        pbx: PbxArgument = None,
    ) -> Operator | None:
        """`service.operator`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        return Operator.from_json(await ctx.service.operator(member_id, grant))

    @resolver.field("Every queue with waiting callers and member counts. REST: GET /queues.")
    async def queues(self, info: Info, pbx: PbxArgument = None) -> list[Queue]:
        """`service.queues`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        return Queue.many(await ctx.service.queues(ctx.replica(), grant))

    @resolver.field(
        "One queue; null with a NOT_FOUND error when there is none. REST: GET /queues/{name}."
    )
    async def queue(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="The queue name.")],
        pbx: PbxArgument = None,
    ) -> Queue | None:
        """`service.queue`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        return Queue.from_view(await ctx.service.queue(name, grant))

    @resolver.field("Active channels, optionally of one queue. REST: GET /channels.")
    async def channels(
        self,
        info: Info,
        queue: Annotated[
            str | None, strawberry.argument(description="Only channels of this queue.")
        ] = None,
        pbx: PbxArgument = None,
    ) -> list[Channel]:
        """`service.channels`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        found = await ctx.service.channels(queue=queue, replica=ctx.replica(), grant=grant)
        return Channel.many(found)

    @resolver.field("Operators, queues and channels at one store version. REST: GET /snapshot.")
    async def snapshot(self, info: Info, pbx: PbxArgument = None) -> Snapshot:
        """`service.snapshot`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        return Snapshot.from_json(await ctx.service.snapshot(ctx.replica(), grant))

    @resolver.field(
        "Database vs Redis counts, differences, the last sync (FORBIDDEN for a token scoped "
        "to some queues: they cover every queue). REST: GET /sync/status."
    )
    async def sync_status(self, info: Info, pbx: PbxArgument = None) -> SyncStatus:
        """`service.sync_status`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        return SyncStatus.from_json(await ctx.service.sync_status(grant))

    @resolver.field(
        "What the token of this request (or connection) grants: its role, queues and "
        "extension, which actions it may take, the pause reasons to offer. For a board to "
        "decide which controls to show. REST: GET /access."
    )
    def access(self, info: Info, pbx: PbxArgument = None) -> Access:
        """`AccessPolicy.describe`."""
        ctx = info.context.at(pbx, info)
        console = ctx.console
        summary = ctx.policy.describe(
            ctx.authorization,
            actions_possible=console is not None and console.available,
        )
        return Access.from_summary(summary, ctx.pause_reasons)
