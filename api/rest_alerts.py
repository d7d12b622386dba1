"""Alerts over REST: the rules (admin) and the alerts firing now.

- `GET /alerts/rules`, `POST /alerts/rules` (create, 201), `PUT /alerts/rules/{id}`
  (replace), `DELETE /alerts/rules/{id}`: admin; a scoped admin sees and sets its
  queues' rules only. Invalid fields: 422.
- `GET /alerts`: the alerts firing now (a read; a scoped token sees its queues').

The same operations as GraphQL's `alertRules`, `setAlertRule`, `deleteAlertRule`
and `activeAlerts`, through `api.alerts.admin.AlertAdmin`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.alerts.admin import AlertAdmin, rule_json
from api.alerts.rules import (
    DEFAULT_CLEAR_SECONDS,
    MAX_CLEAR_SECONDS,
    MAX_NAME,
    MAX_REASON,
    MAX_URL,
    MAX_WINDOW_MINUTES,
    RuleKind,
    RuleSpec,
)
from api.alerts.store import RuleStore
from api.auth import Action, Grant
from api.pbx_runtime import PbxRuntime
from api.responses import OrjsonResponse
from api.rest import PREFIX, require
from api.rest_pbx import RequestPbx
from api.runtime import runtime_of

RULES_PATH = "/alerts/rules"
KindName = Literal[
    "longest_wait", "callers_waiting", "service_level", "operator_paused", "available_operators"
]
RuleId = Annotated[int, Path(ge=1, le=2**62, description="The rule's id.")]


def _whole_number(value: Any) -> Any:
    """JSON's 30.0 is the integer 30 (as JSON Schema counts it); 30.5, "30" and true are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]

router = APIRouter(prefix=PREFIX, tags=["queue-status"], default_response_class=OrjsonResponse)


class RuleBody(BaseModel):
    """A rule as POST and PUT take it (camelCase, as GraphQL's AlertRuleInput). Strict: a
    string is not a number, nor 0 a boolean (as the OpenAPI document says)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    kind: KindName
    threshold: float = Field(ge=0, allow_inf_nan=False)
    queue: str | None = Field(default=None, max_length=128, description="null: every queue.")
    window_minutes: WholeNumber | None = Field(
        default=None, alias="windowMinutes", ge=1, le=MAX_WINDOW_MINUTES
    )
    reason: str | None = Field(default=None, max_length=MAX_REASON)
    clear_seconds: WholeNumber = Field(
        default=DEFAULT_CLEAR_SECONDS, alias="clearSeconds", ge=0, le=MAX_CLEAR_SECONDS
    )
    clear_margin: float = Field(default=0.0, alias="clearMargin", ge=0, allow_inf_nan=False)
    enabled: bool = True
    webhook_url: str | None = Field(default=None, alias="webhookUrl", max_length=MAX_URL)
    pbx: str | None = Field(
        default=None,
        max_length=64,
        description="With PBXES: the request's PBX (?pbx=), or null for every PBX.",
    )

    def spec(self) -> RuleSpec:
        """The rule to validate and store."""
        return RuleSpec(
            name=self.name,
            kind=RuleKind(self.kind),
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


def alert_admin(request: Request, pbx: PbxRuntime) -> AlertAdmin:
    """Rule administration over the app's database and the PBX's alert engine."""
    runtime = runtime_of(request.app)
    return AlertAdmin(
        RuleStore(runtime.engine), pbx.alerts, pbx=pbx.name if runtime.several else None
    )


@router.get(RULES_PATH)
async def list_rules(
    request: Request, pbx: RequestPbx, grant: Annotated[Grant, require(Action.ADMIN)]
) -> OrjsonResponse:
    """Every alert rule (of your queues, for a scoped token), by id."""
    rules = await alert_admin(request, pbx).rules(grant)
    return OrjsonResponse(
        {"success": True, "data": [rule_json(r) for r in rules], "count": len(rules)}
    )


@router.post(RULES_PATH, status_code=201)
async def create_rule(
    request: Request,
    pbx: RequestPbx,
    body: RuleBody,
    grant: Annotated[Grant, require(Action.ADMIN)],
) -> OrjsonResponse:
    """Create a rule; it is evaluated at once."""
    rule = await alert_admin(request, pbx).set_rule(grant, None, body.spec())
    return OrjsonResponse({"success": True, "data": rule_json(rule)}, status_code=201)


@router.put(RULES_PATH + "/{rule_id}")
async def replace_rule(
    request: Request,
    pbx: RequestPbx,
    rule_id: RuleId,
    body: RuleBody,
    grant: Annotated[Grant, require(Action.ADMIN)],
) -> OrjsonResponse:
    """Replace a rule (every field)."""
    rule = await alert_admin(request, pbx).set_rule(grant, rule_id, body.spec())
    return OrjsonResponse({"success": True, "data": rule_json(rule)})


@router.delete(RULES_PATH + "/{rule_id}")
async def delete_rule(
    request: Request,
    pbx: RequestPbx,
    rule_id: RuleId,
    grant: Annotated[Grant, require(Action.ADMIN)],
) -> OrjsonResponse:
    """Delete a rule; its alerts resolve."""
    rule = await alert_admin(request, pbx).delete_rule(grant, rule_id)
    return OrjsonResponse({"success": True, "data": rule_json(rule)})


@router.get("/alerts")
async def active_alerts(
    request: Request, pbx: RequestPbx, grant: Annotated[Grant, require(Action.READ)]
) -> OrjsonResponse:
    """The alerts firing now (of your queues, for a scoped token)."""
    events = alert_admin(request, pbx).active(grant)
    return OrjsonResponse(
        {"success": True, "data": [e.as_json() for e in events], "count": len(events)}
    )
