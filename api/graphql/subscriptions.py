"""The Subscription root: live updates fed by the process' one Redis pub/sub connection."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, TypeVar

import strawberry

from api.auth import Action
from api.graphql import fields as resolver
from api.graphql.context import GraphQLContext, Info
from api.graphql.pbx import PbxArgument
from api.graphql.scoped import scoped
from api.graphql.selectors import (
    ChangesSelector,
    ChannelSelector,
    OperatorSelector,
    QueueSelector,
    Selector,
)
from api.graphql.streams import follow
from api.graphql.updates import ChangeBatch, ChannelUpdate, OperatorUpdate, QueueUpdate

U = TypeVar("U")

Initial = Annotated[
    bool,
    strawberry.argument(
        description="Send the current state first (true, the default) or only changes (false)."
    ),
]


def _follow(ctx: GraphQLContext, selector: Selector[U], initial: bool) -> AsyncGenerator[U, None]:
    # Checked here, before the stream starts, so a refusal is the operation's error.
    grant = ctx.grant(Action.READ)
    broadcaster, live = ctx.live()
    return follow(broadcaster, live, scoped(selector, grant.queues, live), initial=initial)


@strawberry.type(
    description=(
        "Live updates over WebSocket (graphql-transport-ws, or legacy graphql-ws). Each "
        "subscription sends the current state first (unless `initial: false`), then the "
        "changes; every message carries `fromVersion`/`toVersion`, so a client can tell it "
        "missed nothing. Changes published within a short window come as one message (the "
        "window grows with the subscribers of a server: 40 ms for a thousand, at most "
        "150 ms), and identical subscriptions (same document and variables) are "
        "executed once for all their subscribers. After the server lost changes (Redis "
        "pub/sub reconnect) the state is re-sent as RESYNC. A client that falls too far "
        "behind gets a SUBSCRIBER_TOO_SLOW error and should resubscribe. A token scoped to "
        "some queues (API_TOKENS) gets only what it sees: their operators (with those "
        "memberships only), queues, channels and changes; versions keep their numbers, so "
        "it sees holes between them, never a RESYNC for that."
    )
)
class Subscription:
    """Each resolver returns a stream over the live mirror."""

    @resolver.subscription("Operators as they change, optionally filtered.")
    def operator_updated(
        self,
        info: Info,
        member_id: Annotated[
            str | None, strawberry.argument(description="Only this operator (interface).")
        ] = None,
        queue: Annotated[
            str | None, strawberry.argument(description="Only members of this queue.")
        ] = None,
        initial: Initial = True,
        pbx: PbxArgument = None,
    ) -> AsyncGenerator[OperatorUpdate, None]:
        """Stream of OperatorUpdate."""
        ctx = info.context.at(pbx, info)
        return _follow(ctx, OperatorSelector(member_id, queue), initial)

    @resolver.subscription(
        "Queues as they change, including member counts when their operators change."
    )
    def queue_updated(
        self,
        info: Info,
        name: Annotated[str | None, strawberry.argument(description="Only this queue.")] = None,
        initial: Initial = True,
        pbx: PbxArgument = None,
    ) -> AsyncGenerator[QueueUpdate, None]:
        """Stream of QueueUpdate."""
        ctx = info.context.at(pbx, info)
        return _follow(ctx, QueueSelector(name), initial)

    @resolver.subscription("Channels (call legs) as they change.")
    def channel_updated(
        self,
        info: Info,
        queue: Annotated[
            str | None, strawberry.argument(description="Only channels of this queue.")
        ] = None,
        initial: Initial = True,
        pbx: PbxArgument = None,
    ) -> AsyncGenerator[ChannelUpdate, None]:
        """Stream of ChannelUpdate."""
        ctx = info.context.at(pbx, info)
        return _follow(ctx, ChannelSelector(queue), initial)

    @resolver.subscription(
        "Every change of every kind, each with its version, in batches: the changes of a "
        "short window (40 ms for a thousand subscribers on a server, at most 150 ms; the "
        "first after a quiet spell at once) as one message. The first message is the whole state as a snapshot (unless `initial: "
        "false`). A scoped token gets the changes it sees only (an operator that left its "
        "queues as a DELETE): tell continuity by `fromVersion`, not by consecutive "
        "change versions."
    )
    def changes(
        self, info: Info, initial: Initial = True, pbx: PbxArgument = None
    ) -> AsyncGenerator[ChangeBatch, None]:
        """Stream of ChangeBatch."""
        ctx = info.context.at(pbx, info)
        return _follow(ctx, ChangesSelector(), initial)
