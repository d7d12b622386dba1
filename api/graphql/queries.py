"""The Query root: one-liners over the domain service, the same data as the REST router."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.auth import Action
from api.graphql import fields as resolver
from api.graphql.context import Info
from api.graphql.enums import OperatorStatus
from api.graphql.reports import SyncStatus
from api.graphql.types import Channel, Operator, Queue, Snapshot


@strawberry.type(
    description=(
        "Read the live state. Every field reads Redis when asked; for live updates use the "
        "subscriptions. Reads are open unless a viewer token is configured (API_TOKENS). "
        "Errors carry `extensions.code` (NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE, "
        "GRAPHQL_VALIDATION_FAILED, …)."
    )
)
class Query:
    """Reads; each resolver is one call to `QueueStatusService` (collections from the live
    mirror when it is current, see `api.service.Replica`)."""

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
    ) -> list[Operator]:
        """`service.operators`."""
        service = info.context.allow(Action.READ)
        wanted = None if status is None else str(status.value)
        found = await service.operators(
            queue=queue, status=wanted, paused=paused, replica=info.context.replica()
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
    ) -> Operator | None:
        """`service.operator`."""
        return Operator.from_json(await info.context.allow(Action.READ).operator(member_id))

    @resolver.field("Every queue with waiting callers and member counts. REST: GET /queues.")
    async def queues(self, info: Info) -> list[Queue]:
        """`service.queues`."""
        service = info.context.allow(Action.READ)
        return Queue.many(await service.queues(info.context.replica()))

    @resolver.field(
        "One queue; null with a NOT_FOUND error when there is none. REST: GET /queues/{name}."
    )
    async def queue(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="The queue name.")],
    ) -> Queue | None:
        """`service.queue`."""
        return Queue.from_view(await info.context.allow(Action.READ).queue(name))

    @resolver.field("Active channels, optionally of one queue. REST: GET /channels.")
    async def channels(
        self,
        info: Info,
        queue: Annotated[
            str | None, strawberry.argument(description="Only channels of this queue.")
        ] = None,
    ) -> list[Channel]:
        """`service.channels`."""
        service = info.context.allow(Action.READ)
        return Channel.many(await service.channels(queue=queue, replica=info.context.replica()))

    @resolver.field("Operators, queues and channels at one store version. REST: GET /snapshot.")
    async def snapshot(self, info: Info) -> Snapshot:
        """`service.snapshot`."""
        service = info.context.allow(Action.READ)
        return Snapshot.from_json(await service.snapshot(info.context.replica()))

    @resolver.field("Database vs Redis counts, differences, the last sync. REST: GET /sync/status.")
    async def sync_status(self, info: Info) -> SyncStatus:
        """`service.sync_status`."""
        return SyncStatus.from_json(await info.context.allow(Action.READ).sync_status())
