"""`queueStats`, `agentStats` and `calls`: KPIs from the call records (REST: /stats/queues,
/stats/agents, /calls). `StatsQuery` holds the fields; the schema's Query root takes it in
(`api.graphql.schema`). Definitions: `ingest.records.kpi`; errors and scope: `api.stats`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from api.auth import Action
from api.errors import Unavailable
from api.graphql import fields as resolver
from api.graphql.context import GraphQLContext, Info
from api.graphql.pbx import PbxArgument
from api.runtime import runtime_of
from api.stats import RecordStats
from ingest.records.kpi.agent_stats import AgentStats
from ingest.records.kpi.call_list import DEFAULT_PAGE, MAX_PAGE, CallEntry
from ingest.records.kpi.queue_stats import QueueStats
from ingest.records.repository import from_epoch_ms


@strawberry.enum(description="How a queued call ended.")
class CallOutcome(Enum):
    """`ingest.records.model.CallOutcome`, as GraphQL names it."""

    COMPLETED_BY_AGENT = strawberry.enum_value(
        "completed_by_agent", description="Answered; the member hung up."
    )
    COMPLETED_BY_CALLER = strawberry.enum_value(
        "completed_by_caller", description="Answered; the caller hung up."
    )
    TRANSFERRED = strawberry.enum_value("transferred", description="Answered, then transferred.")
    ABANDONED = strawberry.enum_value(
        "abandoned",
        description="Hung up before an answer (from AMI, Queue() timeouts too: Asterisk sends "
        "the same QueueCallerAbandon).",
    )
    TIMED_OUT = strawberry.enum_value(
        "timed_out", description="Left by the Queue() timeout (only queue_log tells)."
    )
    EXIT_EMPTY = strawberry.enum_value(
        "exit_empty", description="Left because the queue had no usable members."
    )
    EXIT_WITH_KEY = strawberry.enum_value(
        "exit_with_key", description="Left by pressing a key of the queue's context."
    )
    LEFT = strawberry.enum_value("left", description="Left otherwise, or closed unfinished.")


def _field(description: str, name: str | None = None) -> Any:
    return strawberry.field(description=description, name=name)


@strawberry.type(description="KPIs of one queue over one interval, from the call records.")
class QueueStatsRow:
    """`ingest.records.kpi.queue_stats.QueueStats`."""

    queue: str = _field("The queue.")
    start: datetime = _field("Start of the interval (inclusive, site time).", name="from")
    end: datetime = _field("End of the interval (exclusive).", name="to")
    offered: int = _field("Calls that joined the queue (QueueCallerJoin).")
    answered: int = _field("Calls a member answered (AgentConnect).")
    completed: int = _field("Answered calls that ended by AgentComplete.")
    abandoned: int = _field(
        "Calls that left unanswered by QueueCallerAbandon (Queue() timeouts included, as "
        "Asterisk counts them)."
    )
    timed_out: int = _field(
        "Abandons known to be Queue() timeouts (only an imported queue_log tells them apart)."
    )
    short_abandoned: int = _field(
        "Abandons after a wait under SHORT_ABANDON_SECONDS (also counted in `abandoned`)."
    )
    service_level_seconds: int | None = _field(
        "The queue's service level (s) used; null when unknown (then so are the service-level "
        "fields)."
    )
    answered_within_service_level: int | None = _field(
        "Answered calls that waited at most the service level."
    )
    service_level: float | None = _field(
        "answeredWithinServiceLevel / answered, % (Asterisk's ServicelevelPerf); null when "
        "nothing was answered."
    )
    service_level_with_abandons: float | None = _field(
        "answeredWithinServiceLevel / (answered + abandoned beyond the short threshold), %."
    )
    average_speed_of_answer: float | None = _field("Mean wait of the answered calls (s).")
    average_handle_time: float | None = _field(
        "Mean talk time + wrap-up of the completed calls (s; talk only when no wrap-up is known)."
    )
    longest_wait: int | None = _field("The longest wait of any call (s).")

    @classmethod
    def from_stats(cls, stats: QueueStats) -> QueueStatsRow:
        """Build from a query row."""
        row = stats.as_json()
        return cls(
            queue=stats.queue,
            start=stats.bucket.start,
            end=stats.bucket.end,
            offered=row["offered"],
            answered=row["answered"],
            completed=row["completed"],
            abandoned=row["abandoned"],
            timed_out=row["timedOut"],
            short_abandoned=row["shortAbandoned"],
            service_level_seconds=row["serviceLevelSeconds"],
            answered_within_service_level=row["answeredWithinServiceLevel"],
            service_level=row["serviceLevel"],
            service_level_with_abandons=row["serviceLevelWithAbandons"],
            average_speed_of_answer=row["averageSpeedOfAnswer"],
            average_handle_time=row["averageHandleTime"],
            longest_wait=row["longestWait"],
        )


@strawberry.type(description="Paused time with one reason.")
class PauseTime:
    """One entry of `AgentStatsRow.pauseTimeByReason`."""

    reason: str = _field("The pause reason (empty when none was given).")
    seconds: float = _field("Seconds paused with it.")


@strawberry.type(description="What one member did in one queue over one interval.")
class AgentStatsRow:
    """`ingest.records.kpi.agent_stats.AgentStats`."""

    member_id: str = _field("The member's interface, e.g. PJSIP/1001.")
    member_name: str | None = _field("The member's name, when known.")
    queue: str = _field("The queue.")
    start: datetime = _field("Start of the interval (inclusive, site time).", name="from")
    end: datetime = _field("End of the interval (exclusive).", name="to")
    calls_taken: int = _field("Calls the member answered (by when they entered the queue).")
    talk_time: float = _field("Seconds in calls.")
    wrap_up_time: float = _field("Seconds of wrap-up after calls.")
    ring_time: float = _field("Seconds ringing.")
    paused_time: float = _field("Seconds paused.")
    pause_time_by_reason: list[PauseTime] = _field("Seconds paused, per reason.")
    logged_in_time: float = _field("Seconds logged in (dynamic members only).")
    available_time: float = _field(
        "Seconds logged in and neither paused, in a call nor wrapping up."
    )
    occupancy: float | None = _field(
        "(talk + wrap-up) / (talk + wrap-up + available), %; null when all are 0."
    )

    @classmethod
    def from_stats(cls, stats: AgentStats) -> AgentStatsRow:
        """Build from a query row."""
        row = stats.as_json()
        return cls(
            member_id=stats.member_id,
            member_name=stats.member_name,
            queue=stats.queue,
            start=stats.bucket.start,
            end=stats.bucket.end,
            calls_taken=row["callsTaken"],
            talk_time=row["talkTime"],
            wrap_up_time=row["wrapUpTime"],
            ring_time=row["ringTime"],
            paused_time=row["pausedTime"],
            pause_time_by_reason=[PauseTime(**item) for item in row["pauseTimeByReason"]],
            logged_in_time=row["loggedInTime"],
            available_time=row["availableTime"],
            occupancy=row["occupancy"],
        )


@strawberry.type(description="One queued call as the records keep it.")
class QueueCall:
    """`ingest.records.kpi.call_list.CallEntry`."""

    id: strawberry.ID = _field("The record's id.")
    queue: str = _field("The queue.")
    uniqueid: str = _field("The caller channel's Uniqueid.")
    caller_number: str | None = _field("The caller's number.")
    caller_name: str | None = _field("The caller's name.")
    entered_at: datetime | None = _field("When the caller joined the queue.")
    answered_at: datetime | None = _field("When a member answered; null if none did.")
    ended_at: datetime = _field("When the call left the queue or ended.")
    wait: int | None = _field("Seconds waited (Asterisk's HoldTime).")
    position: int | None = _field("Position at join.")
    original_position: int | None = _field("Position at join as Asterisk reported it at the end.")
    abandon_position: int | None = _field("Position when the caller left unanswered.")
    outcome: CallOutcome = _field("How the call ended.")
    timed_out: bool | None = _field(
        "Left by the Queue() timeout; null when the source cannot tell."
    )
    answered_by: str | None = _field("The member who answered.")
    member_name: str | None = _field("That member's name.")
    ring_attempts: int = _field("Members rung before the answer.")
    talk_time: int | None = _field("Seconds talked.")
    source: str = _field("Where the record came from: ami or queue_log.")

    @classmethod
    def from_entry(cls, call: CallEntry) -> QueueCall:
        """Build from a page entry."""
        ended = from_epoch_ms(call.ended_at)
        assert ended is not None  # an int always converts
        return cls(
            id=strawberry.ID(str(call.id)),
            queue=call.queue,
            uniqueid=call.uniqueid,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            entered_at=from_epoch_ms(call.entered_at),
            answered_at=from_epoch_ms(call.answered_at),
            ended_at=ended,
            wait=call.wait,
            position=call.position,
            original_position=call.original_position,
            abandon_position=call.abandon_position,
            outcome=CallOutcome(call.outcome),
            timed_out=call.timed_out,
            answered_by=call.answered_by,
            member_name=call.member_name,
            ring_attempts=call.ring_attempts,
            talk_time=call.talk_time,
            source=call.source,
        )


@strawberry.type(description="Where a page of calls ends.")
class QueueCallPageInfo:
    """Cursor pagination."""

    end_cursor: str | None = _field("Pass as `after` for the next page; null for an empty page.")
    has_next_page: bool = _field("Whether older calls follow.")


@strawberry.type(description="One page of calls, newest first.")
class QueueCallPage:
    """`ingest.records.kpi.call_list.CallPage`."""

    calls: list[QueueCall] = _field("The calls, newest first.")
    count: int = _field("How many calls this page holds.")
    page_info: QueueCallPageInfo = _field("Where the page ends.")


def _stats(info: Info, ctx: GraphQLContext) -> RecordStats:
    request = info.context.request
    if request is None:
        raise Unavailable("statistics are not available here")
    runtime = runtime_of(request.app)
    pbx = runtime.pbx(ctx.name)
    return RecordStats.from_settings(
        runtime.engine, pbx.store, runtime.settings, pbx=pbx.records_pbx
    )


Since = Annotated[
    datetime | None,
    strawberry.argument(
        name="from", description="From this time (inclusive; null: today's midnight, site time)."
    ),
]
Until = Annotated[
    datetime | None,
    strawberry.argument(name="to", description="Until this time (exclusive; null: tonight's)."),
]
Interval = Annotated[
    int | None,
    strawberry.argument(
        description="Bucket length in seconds (60..86400), aligned to the site's midnight; "
        "null: one row for the range."
    ),
]


@strawberry.type(description="The KPI fields of the Query root.")
class StatsQuery:
    """Merged into the Query root by `api.graphql.schema`."""

    @resolver.field(
        "KPIs per queue (and interval) from the call records, never from Asterisk's resettable "
        "counters. REST: GET /stats/queues."
    )
    async def queue_stats(
        self,
        info: Info,
        queue: Annotated[str | None, strawberry.argument(description="One queue.")] = None,
        since: Since = None,
        until: Until = None,
        interval: Interval = None,
        pbx: PbxArgument = None,
    ) -> list[QueueStatsRow]:
        """`RecordStats.queue_stats` for the caller's grant."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        rows = await _stats(info, ctx).queue_stats(
            grant, queue=queue, since=since, until=until, interval=interval
        )
        return [QueueStatsRow.from_stats(row) for row in rows]

    @resolver.field(
        "KPIs per member, queue (and interval) from the agent intervals. REST: GET /stats/agents."
    )
    async def agent_stats(
        self,
        info: Info,
        member_id: Annotated[
            str | None, strawberry.argument(description="One member, e.g. PJSIP/1001.")
        ] = None,
        queue: Annotated[str | None, strawberry.argument(description="One queue.")] = None,
        since: Since = None,
        until: Until = None,
        interval: Interval = None,
        pbx: PbxArgument = None,
    ) -> list[AgentStatsRow]:
        """`RecordStats.agent_stats` for the caller's grant."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        rows = await _stats(info, ctx).agent_stats(
            grant, member_id=member_id, queue=queue, since=since, until=until, interval=interval
        )
        return [AgentStatsRow.from_stats(row) for row in rows]

    @resolver.field(
        "Calls entered in the range, newest first (e.g. outcome ABANDONED: the abandoned "
        "calls with caller number, wait and position). REST: GET /calls."
    )
    async def calls(
        self,
        info: Info,
        queue: Annotated[str | None, strawberry.argument(description="One queue.")] = None,
        since: Since = None,
        until: Until = None,
        outcome: Annotated[
            CallOutcome | None, strawberry.argument(description="Only calls that ended so.")
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(description=f"Page size, 1..{MAX_PAGE} (null: {DEFAULT_PAGE})."),
        ] = DEFAULT_PAGE,
        after: Annotated[
            str | None, strawberry.argument(description="The endCursor of the previous page.")
        ] = None,
        pbx: PbxArgument = None,
    ) -> QueueCallPage:
        """`RecordStats.calls` for the caller's grant."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        page = await _stats(info, ctx).calls(
            grant,
            queue=queue,
            since=since,
            until=until,
            outcome=None if outcome is None else str(outcome.value),
            first=DEFAULT_PAGE if first is None else first,
            after=after,
        )
        return QueueCallPage(
            calls=[QueueCall.from_entry(call) for call in page.calls],
            count=len(page.calls),
            page_info=QueueCallPageInfo(
                end_cursor=page.end_cursor, has_next_page=page.has_next_page
            ),
        )
