"""Alerts in GraphQL: `alertRules`, `activeAlerts`, `setAlertRule`, `deleteAlertRule`
and the `alerts` subscription (REST: /alerts/rules and /alerts).

`AlertQuery`, `AlertMutation` and `AlertSubscription` hold the fields; the
schema's roots take them in (`api.graphql.schema`). Every operation goes
through `api.alerts.admin`, as REST does.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from api.alerts import evaluator, rules
from api.alerts.admin import AlertAdmin, sees_alert, visible
from api.alerts.engine import AlertEngine
from api.alerts.store import RuleStore
from api.auth import Action
from api.errors import BadInput, Unavailable
from api.graphql import fields as resolver
from api.graphql.context import GraphQLContext, Info
from api.graphql.pbx import PbxArgument
from api.graphql.scalars import Timestamp
from api.runtime import Runtime, runtime_of


@strawberry.enum(description="What an alert rule watches.")
class AlertRuleKind(Enum):
    """`api.alerts.rules.RuleKind`."""

    LONGEST_WAIT = strawberry.enum_value(
        "longest_wait", description="A queue's longest wait, in seconds, over the threshold."
    )
    CALLERS_WAITING = strawberry.enum_value(
        "callers_waiting", description="Callers waiting in a queue, over the threshold."
    )
    SERVICE_LEVEL = strawberry.enum_value(
        "service_level",
        description=(
            "The % of calls answered within the queue's servicelevel, of the calls that "
            "entered in the last `windowMinutes` and were answered (from the call records), "
            "under the threshold."
        ),
    )
    OPERATOR_PAUSED = strawberry.enum_value(
        "operator_paused",
        description="An operator paused (for `reason`, if set) for more minutes than the threshold.",
    )
    AVAILABLE_OPERATORS = strawberry.enum_value(
        "available_operators",
        description="A queue's members idle and not paused, under the threshold.",
    )


@strawberry.enum(description="Where an alert is in its life.")
class AlertState(Enum):
    """`api.alerts.evaluator.AlertState`."""

    FIRING = strawberry.enum_value("firing", description="The condition holds.")
    RESOLVED = strawberry.enum_value(
        "resolved",
        description=(
            "Back past the threshold by the rule's margin for its clearSeconds, or the "
            "rule or the subject is gone."
        ),
    )


@strawberry.enum(description="What an alert is about.")
class AlertSubjectType(Enum):
    """`api.alerts.evaluator.SubjectKind`."""

    QUEUE = strawberry.enum_value("queue", description="A queue (by name).")
    OPERATOR = strawberry.enum_value("operator", description="An operator (by memberId).")


@strawberry.type(description="An alert rule (admin).")
class AlertRule:
    """`api.alerts.rules.AlertRule`."""

    id: strawberry.ID = strawberry.field(description="The rule's id.")
    name: str = strawberry.field(description="Its name, shown in alerts.")
    kind: AlertRuleKind = strawberry.field(description="What it watches.")
    queue: str | None = strawberry.field(description="The queue it watches; null: every queue.")
    threshold: float = strawberry.field(
        description="Seconds, callers, %, minutes or operators, by kind."
    )
    window_minutes: int | None = strawberry.field(
        description="SERVICE_LEVEL only: the minutes looked back."
    )
    reason: str | None = strawberry.field(
        description="OPERATOR_PAUSED only: only pauses for this reason (null: any)."
    )
    clear_seconds: int = strawberry.field(
        description="Seconds the value must stay back past the threshold before resolving."
    )
    clear_margin: float = strawberry.field(
        description="How far past the threshold (in its unit) the value must come back."
    )
    enabled: bool = strawberry.field(description="Whether it is evaluated.")
    webhook_url: str | None = strawberry.field(
        description="A webhook of its own, beside ALERT_WEBHOOK_URLS."
    )
    updated_at: datetime | None = strawberry.field(description="When it was last set.")
    pbx: str | None = strawberry.field(
        description="The PBX it watches (with several PBXes); null: every PBX."
    )

    @classmethod
    def of(cls, rule: rules.AlertRule) -> AlertRule:
        """From the stored rule."""
        return cls(
            id=strawberry.ID(str(rule.id)),
            name=rule.name,
            kind=AlertRuleKind(rule.kind.value),
            queue=rule.queue,
            threshold=rule.threshold,
            window_minutes=rule.window_minutes,
            reason=rule.reason,
            clear_seconds=rule.clear_seconds,
            clear_margin=rule.clear_margin,
            enabled=rule.enabled,
            webhook_url=rule.webhook_url,
            updated_at=rule.updated_at,
            pbx=rule.pbx,
        )


@strawberry.input(description="An alert rule to create (no id) or replace (its id).")
class AlertRuleInput:
    """`api.alerts.rules.RuleSpec`, validated by `api.alerts.rules.validate`."""

    id: strawberry.ID | None = strawberry.field(
        default=None, description="The rule to replace; null: create one."
    )
    name: str = strawberry.field(
        description=f"1 to {rules.MAX_NAME} characters, no control characters."
    )
    kind: AlertRuleKind = strawberry.field(description="What it watches.")
    threshold: float = strawberry.field(description="0 or more (a service level: 0..100).")
    queue: str | None = strawberry.field(default=None, description="null: every queue.")
    window_minutes: int | None = strawberry.field(
        default=None, description=f"SERVICE_LEVEL only (required): 1..{rules.MAX_WINDOW_MINUTES}."
    )
    reason: str | None = strawberry.field(
        default=None, description="OPERATOR_PAUSED only: only pauses for this reason."
    )
    clear_seconds: int = strawberry.field(
        default=rules.DEFAULT_CLEAR_SECONDS,
        description=f"0..{rules.MAX_CLEAR_SECONDS}: seconds back past the threshold to resolve.",
    )
    clear_margin: float = strawberry.field(
        default=0.0, description="How far past the threshold the value must come back (≥ 0)."
    )
    enabled: bool = strawberry.field(default=True, description="Evaluate it.")
    webhook_url: str | None = strawberry.field(
        default=None, description="An http(s) webhook of its own, beside ALERT_WEBHOOK_URLS."
    )
    pbx: str | None = strawberry.field(
        default=None,
        description="With several PBXes: the operation's PBX (its `pbx` argument), or null "
        "for every PBX.",
    )

    def spec(self) -> rules.RuleSpec:
        """The rule to validate and store."""
        return rules.RuleSpec(
            name=self.name,
            kind=rules.RuleKind(self.kind.value),
            threshold=self.threshold,
            queue=self.queue,
            window_minutes=self.window_minutes,
            reason=self.reason,
            clear_seconds=self.clear_seconds,
            clear_margin=self.clear_margin,
            enabled=self.enabled,
            webhook_url=self.webhook_url,
            pbx=self.pbx,
        )


@strawberry.type(description="An alert that fired or resolved (or, in activeAlerts, fires).")
class Alert:
    """`api.alerts.evaluator.AlertEvent`."""

    state: AlertState = strawberry.field(description="FIRING or RESOLVED.")
    rule: AlertRule = strawberry.field(description="The rule.")
    subject_type: AlertSubjectType = strawberry.field(description="QUEUE or OPERATOR.")
    subject: str = strawberry.field(description="The queue's name or the operator's memberId.")
    queue: str | None = strawberry.field(
        description="The queue concerned (an operator's: the membership whose pause counts)."
    )
    value: float | None = strawberry.field(
        description="The watched value (null: the subject or the rule is gone)."
    )
    threshold: float = strawberry.field(description="The rule's threshold.")
    since: Timestamp = strawberry.field(description="When it fired.")
    at: Timestamp = strawberry.field(description="When this event happened.")
    text: str = strawberry.field(description="One line for people (as webhooks' `text`).")
    pbx: str | None = strawberry.field(
        description="The PBX whose state fired it (with several PBXes); null: the one PBX."
    )

    @classmethod
    def of(cls, event: evaluator.AlertEvent) -> Alert:
        """From the engine's event."""
        return cls(
            state=AlertState(event.state.value),
            rule=AlertRule.of(event.rule),
            subject_type=AlertSubjectType(event.subject.kind.value),
            subject=event.subject.id,
            queue=event.queue,
            value=event.value,
            threshold=event.rule.threshold,
            since=Timestamp(event.since_ms),
            at=Timestamp(event.at_ms),
            text=event.text,
            pbx=event.pbx,
        )


def _runtime(info: Info) -> Runtime:
    request = info.context.request
    if request is None:
        raise Unavailable("alerts are not available here")
    return runtime_of(request.app)


def _admin(info: Info, ctx: GraphQLContext) -> AlertAdmin:
    runtime = _runtime(info)
    return AlertAdmin(
        RuleStore(runtime.engine),
        runtime.pbx(ctx.name).alerts,
        pbx=ctx.name if runtime.several else None,
    )


def _engine(info: Info, ctx: GraphQLContext) -> AlertEngine:
    engine = _runtime(info).pbx(ctx.name).alerts
    if engine is None:
        raise Unavailable("alerts are not evaluated in this process")
    return engine


def _rule_id(value: strawberry.ID) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise BadInput("id: a rule id (a positive integer)") from None
    if not 1 <= number <= 2**62:
        raise BadInput("id: a rule id (a positive integer)")
    return number


@strawberry.type(description="The alerts' fields of the Query root.")
class AlertQuery:
    """Merged into the Query root by `api.graphql.schema`."""

    @resolver.field(
        "Every alert rule, by id; admin only (a scoped admin sees its queues' rules). "
        "REST: GET /alerts/rules."
    )
    async def alert_rules(self, info: Info, pbx: PbxArgument = None) -> list[AlertRule]:
        """`AlertAdmin.rules`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.ADMIN)
        return [AlertRule.of(rule) for rule in await _admin(info, ctx).rules(grant)]

    @resolver.field(
        "The alerts firing now (a scoped token: its queues'), by rule and subject. "
        "REST: GET /alerts."
    )
    def active_alerts(self, info: Info, pbx: PbxArgument = None) -> list[Alert]:
        """`AlertEngine.active`, as the grant sees it."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        return [Alert.of(event) for event in _admin(info, ctx).active(grant)]


@strawberry.type(description="The alerts' fields of the Mutation root.")
class AlertMutation:
    """Merged into the Mutation root by `api.graphql.schema`."""

    @resolver.mutation(
        "Create an alert rule (no `id`) or replace one; admin. It is evaluated at once. "
        "REST: POST /alerts/rules, PUT /alerts/rules/{id}."
    )
    async def set_alert_rule(
        self,
        info: Info,
        input: Annotated[AlertRuleInput, strawberry.argument(description="The rule.")],
        pbx: PbxArgument = None,
    ) -> AlertRule:
        """`AlertAdmin.set_rule`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.ADMIN)
        rule_id = None if input.id is None else _rule_id(input.id)
        return AlertRule.of(await _admin(info, ctx).set_rule(grant, rule_id, input.spec()))

    @resolver.mutation(
        "Delete an alert rule (its alerts resolve); admin. Returns it. "
        "REST: DELETE /alerts/rules/{id}."
    )
    async def delete_alert_rule(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The rule's id.")],
        pbx: PbxArgument = None,
    ) -> AlertRule:
        """`AlertAdmin.delete_rule`."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.ADMIN)
        return AlertRule.of(await _admin(info, ctx).delete_rule(grant, _rule_id(id)))


@strawberry.type(description="The alerts' field of the Subscription root.")
class AlertSubscription:
    """Merged into the Subscription root by `api.graphql.schema`."""

    @resolver.subscription(
        "Alerts as they fire and resolve, with the value, threshold and since when; first "
        "the alerts firing now (unless `initial: false`). A scoped token gets its queues' "
        "alerts only. A client too far behind gets SUBSCRIBER_TOO_SLOW."
    )
    async def alerts(
        self,
        info: Info,
        initial: Annotated[
            bool,
            strawberry.argument(description="Send the alerts firing now first (default true)."),
        ] = True,
        pbx: PbxArgument = None,
    ) -> AsyncGenerator[Alert, None]:
        """The engine's events, as the grant sees them."""
        ctx = info.context.at(pbx, info)
        grant = ctx.grant(Action.READ)
        async with _engine(info, ctx).subscribe() as (subscriber, firing):
            if initial:
                for event in visible(firing, grant):
                    yield Alert.of(event)
            async for event in subscriber:
                if sees_alert(grant, event):
                    yield Alert.of(event)
