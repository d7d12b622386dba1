"""The supervisor console in GraphQL: inputs, the result, and the mutations' bodies.

Every mutation here goes to `api.console.SupervisorConsole`, as REST's action
routes do: one set of checks, one audit, one error mapping.
"""

from __future__ import annotations

from enum import Enum

import strawberry

from api.console import ActionResult as ConsoleResult
from api.console import SupervisorConsole
from api.errors import Unavailable
from api.graphql.context import GraphQLContext
from api.graphql.types import Operator, Queue
from ingest.actions.requests import ListenMode as AmiListenMode


@strawberry.enum(description="How a supervisor joins an operator's call (ChanSpy options).")
class ListenMode(Enum):
    """ChanSpy's modes."""

    LISTEN = strawberry.enum_value("LISTEN", description="Listen only (ChanSpy `q`).")
    WHISPER = strawberry.enum_value(
        "WHISPER", description="Talk to the operator alone (ChanSpy `qw`)."
    )
    BARGE = strawberry.enum_value("BARGE", description="Talk to both parties (ChanSpy `qB`).")

    def ami(self) -> AmiListenMode:
        """The mode's ChanSpy options."""
        return AmiListenMode[self.name]


@strawberry.enum(description="Which way an action reached Asterisk.")
class ActionPath(Enum):
    """AMI action, or an edit of the realtime `queue_members` row."""

    AMI = strawberry.enum_value("ami", description="An AMI action (QueuePause, QueueAdd, …).")
    REALTIME = strawberry.enum_value(
        "realtime",
        description="A `queue_members` row edited, then the queue reloaded by Asterisk.",
    )


@strawberry.input(description="Pause an operator, with a reason.")
class PauseOperatorInput:
    """QueuePause with Paused: true."""

    member_id: str = strawberry.field(description="The member's interface, e.g. `PJSIP/1001`.")
    queue: str | None = strawberry.field(
        default=None, description="The queue; none: every queue of the member (in your scope)."
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why (≤ 80 printable characters; one of `access.pauseReasons` when set).",
    )


@strawberry.input(description="Unpause an operator.")
class UnpauseOperatorInput:
    """QueuePause with Paused: false."""

    member_id: str = strawberry.field(description="The member's interface.")
    queue: str | None = strawberry.field(
        default=None, description="The queue; none: every queue of the member (in your scope)."
    )


@strawberry.input(description="Put an interface into a queue (admin).")
class AddQueueMemberInput:
    """QueueAdd, or a realtime `queue_members` row for a realtime queue."""

    queue: str = strawberry.field(description="The queue.")
    interface: str = strawberry.field(description="The interface, e.g. `PJSIP/1001`.")
    member_name: str | None = strawberry.field(default=None, description="Display name.")
    state_interface: str | None = strawberry.field(
        default=None, description="Device state interface, e.g. `PJSIP/1001` or `Custom:1001`."
    )
    penalty: int = strawberry.field(default=0, description="Penalty (0 or more).")
    paused: bool = strawberry.field(default=False, description="Start paused.")


@strawberry.input(description="Take an interface out of a queue (admin).")
class RemoveQueueMemberInput:
    """QueueRemove, or the deletion of a realtime `queue_members` row."""

    queue: str = strawberry.field(description="The queue.")
    interface: str = strawberry.field(description="The interface.")


@strawberry.input(description="Change a member's penalty in one queue.")
class SetMemberPenaltyInput:
    """QueuePenalty."""

    queue: str = strawberry.field(description="The queue.")
    interface: str = strawberry.field(description="The interface.")
    penalty: int = strawberry.field(description="The new penalty (0 or more).")


@strawberry.input(description="Listen to, whisper to or barge into an operator's call.")
class ListenToOperatorInput:
    """Originate of the supervisor's phone into ChanSpy on the operator's channel."""

    member_id: str = strawberry.field(description="The operator's interface.")
    mode: ListenMode = strawberry.field(
        default=ListenMode.LISTEN, description="LISTEN, WHISPER or BARGE."
    )
    extension: str | None = strawberry.field(
        default=None,
        description="The supervisor's phone (e.g. `1009` or `PJSIP/1009`); default: the "
        "extension bound to the token.",
    )


@strawberry.type(
    description=(
        "What an action did. Asterisk accepted it; `pending` is false when the event that "
        "shows the change arrived within ACTION_CONFIRM_TIMEOUT, and `operator`/`queue` "
        "are then read at a store `version` that includes it."
    )
)
class ActionResult:
    """The console's result."""

    action: str = strawberry.field(description="The mutation, e.g. `pauseOperator`.")
    pending: bool = strawberry.field(
        description="True when Asterisk accepted the action but its event has not come yet."
    )
    via: ActionPath = strawberry.field(description="AMI action or realtime table edit.")
    asterisk_message: str | None = strawberry.field(description="Asterisk's answer, as sent.")
    version: int = strawberry.field(description="The store version the result was read at.")
    operator: Operator | None = strawberry.field(description="The operator, after the change.")
    queue: Queue | None = strawberry.field(description="The queue, after the change.")

    @classmethod
    def of(cls, result: ConsoleResult) -> ActionResult:
        """From the console's result."""
        return cls(
            action=result.action,
            pending=result.pending,
            via=ActionPath(result.via),
            asterisk_message=result.asterisk_message or None,
            version=result.version,
            operator=Operator.from_json(result.operator) if result.operator else None,
            queue=Queue.from_view(result.queue) if result.queue else None,
        )


def console_of(ctx: GraphQLContext) -> SupervisorConsole:
    """The supervisor console of the operation's PBX (`GraphQLContext.at`)."""
    console = ctx.console
    if console is None:
        raise Unavailable("supervisor actions are not running in this process")
    return console


async def pause_operator(ctx: GraphQLContext, data: PauseOperatorInput) -> ActionResult:
    """`SupervisorConsole.pause` (paused)."""
    result = await console_of(ctx).pause(
        ctx.authorization, data.member_id, data.queue, data.reason, paused=True
    )
    return ActionResult.of(result)


async def unpause_operator(ctx: GraphQLContext, data: UnpauseOperatorInput) -> ActionResult:
    """`SupervisorConsole.pause` (unpaused)."""
    result = await console_of(ctx).pause(
        ctx.authorization, data.member_id, data.queue, None, paused=False
    )
    return ActionResult.of(result)


async def add_queue_member(ctx: GraphQLContext, data: AddQueueMemberInput) -> ActionResult:
    """`SupervisorConsole.add_member`."""
    result = await console_of(ctx).add_member(
        ctx.authorization,
        data.queue,
        data.interface,
        member_name=data.member_name,
        state_interface=data.state_interface,
        penalty=data.penalty,
        paused=data.paused,
    )
    return ActionResult.of(result)


async def remove_queue_member(ctx: GraphQLContext, data: RemoveQueueMemberInput) -> ActionResult:
    """`SupervisorConsole.remove_member`."""
    result = await console_of(ctx).remove_member(ctx.authorization, data.queue, data.interface)
    return ActionResult.of(result)


async def set_member_penalty(ctx: GraphQLContext, data: SetMemberPenaltyInput) -> ActionResult:
    """`SupervisorConsole.set_penalty`."""
    result = await console_of(ctx).set_penalty(
        ctx.authorization, data.queue, data.interface, data.penalty
    )
    return ActionResult.of(result)


async def listen_to_operator(ctx: GraphQLContext, data: ListenToOperatorInput) -> ActionResult:
    """`SupervisorConsole.listen`."""
    result = await console_of(ctx).listen(
        ctx.authorization, data.member_id, data.mode.ami(), data.extension
    )
    return ActionResult.of(result)
