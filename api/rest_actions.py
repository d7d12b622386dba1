"""REST routes of the supervisor console: the same actions as GraphQL's mutations.

Each answers `{"success": true, "pending": …, "via": …, "asteriskMessage": …,
"version": …, "data": {"operator": …, "queue": …}}`; refusals are the app's
error shape (`success: false`, `error`, and `asteriskMessage` when Asterisk
said no) with 400/401/403/404/409/503. Path segments are URL-encoded
(`PJSIP%2F1001`). The role and scope checks happen in the console, so that a
refusal is audited like any other outcome.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.types import Scope

from api.console import ActionResult, SupervisorConsole, required_action
from api.errors import Unavailable
from api.responses import OrjsonResponse
from api.rest import PREFIX
from api.rest_pbx import RequestPbx
from api.runtime import runtime_of
from ingest.actions import values
from ingest.actions.requests import ListenMode

router = APIRouter(
    prefix=PREFIX, tags=["supervisor-actions"], default_response_class=OrjsonResponse
)
Authorization = Annotated[str | None, Header()]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


JsonDict = dict[str, Any]


def _documented(pattern: str) -> JsonDict:
    # The form is documented here and checked by the console (`ingest.actions.values`),
    # so that a refused value is audited like any other refusal (400, not FastAPI's 422).
    return {"pattern": pattern}


_PENALTY_RANGE: JsonDict = {"minimum": 0, "maximum": values.MAX_PENALTY}


def _json_integer(value: object) -> object:
    # JSON Schema's integer includes 5.0; a string or a fraction stays refused (strict).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Penalty = Annotated[int, BeforeValidator(_json_integer), Field(strict=True)]


class PauseBody(_Body):
    """Pause: the queue (none: every queue of the member in your scope) and a reason."""

    queue: str | None = Field(
        default=None, max_length=128, json_schema_extra=_documented(values.QUEUE_PATTERN)
    )
    reason: str | None = Field(
        default=None, max_length=256, json_schema_extra=_documented(values.TEXT_PATTERN)
    )


class UnpauseBody(_Body):
    """Unpause: the queue (none: every queue of the member in your scope)."""

    queue: str | None = Field(
        default=None, max_length=128, json_schema_extra=_documented(values.QUEUE_PATTERN)
    )


class AddMemberBody(_Body):
    """QueueAdd's fields."""

    interface: str = Field(max_length=256, json_schema_extra=_documented(values.INTERFACE_PATTERN))
    member_name: str | None = Field(
        default=None,
        alias="memberName",
        max_length=256,
        json_schema_extra=_documented(values.TEXT_PATTERN),
    )
    state_interface: str | None = Field(
        default=None,
        alias="stateInterface",
        max_length=256,
        json_schema_extra=_documented(values.STATE_INTERFACE_PATTERN),
    )
    penalty: Penalty = Field(default=0, json_schema_extra=_PENALTY_RANGE)
    paused: bool = Field(default=False, strict=True)


class PenaltyBody(_Body):
    """QueuePenalty's new penalty."""

    penalty: Penalty = Field(json_schema_extra=_PENALTY_RANGE)


class ListenBody(_Body):
    """ChanSpy mode (LISTEN, WHISPER, BARGE) and the supervisor's phone."""

    mode: Literal["LISTEN", "WHISPER", "BARGE"] = "LISTEN"
    extension: str | None = Field(
        default=None,
        max_length=80,
        json_schema_extra=_documented(values.EXTENSION_OR_CHANNEL_PATTERN),
    )


def _audited(name: str) -> Any:
    """Marks a route for the request guard: the role `name` needs (checked before a
    body is read), and the audit of a refusal there. The console checks again."""

    async def checked_by_the_console() -> None:
        return None

    def on_refused(scope: Scope, message: str) -> None:
        runtime = runtime_of(scope["app"])
        named = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("pbx", [""])[0]
        pbx = runtime.pbxes.get(named) if named else runtime.default
        console = pbx.console if pbx is not None else None
        if console is not None:
            params = dict(scope.get("path_params") or {})
            console.record_refusal(name, _header(scope), params, message)

    checked_by_the_console.action = required_action(name)  # type: ignore[attr-defined]
    checked_by_the_console.on_refused = on_refused  # type: ignore[attr-defined]
    return Depends(checked_by_the_console)


def _header(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None


# The arguments each path names (a malformed one is no such thing: 404, not 400).
_MEMBER = frozenset({"memberId"})
_QUEUE = frozenset({"queue"})
_QUEUE_MEMBER = frozenset({"queue", "interface"})


async def _pbx_console(pbx: RequestPbx) -> SupervisorConsole:
    console = pbx.console
    if console is None:
        raise Unavailable("supervisor actions are not running in this process")
    return console


Console = Annotated[SupervisorConsole, Depends(_pbx_console)]
"""The console of the request's PBX (`?pbx=`): its policy, its AMI."""


def _answer(result: ActionResult) -> OrjsonResponse:
    body: dict[str, Any] = {"success": True, **result.as_json()}
    body["data"] = {"operator": body.pop("operator"), "queue": body.pop("queue")}
    return OrjsonResponse(body)


@router.post("/operators/{member_id:path}/pause", dependencies=[_audited("pauseOperator")])
async def pause_operator(
    member_id: str,
    console: Console,
    authorization: Authorization = None,
    body: PauseBody | None = None,
) -> OrjsonResponse:
    """QueuePause (Paused: true, Reason). Supervisor."""
    data = body or PauseBody()
    result = await console.pause(
        authorization, member_id, data.queue, data.reason, paused=True, from_path=_MEMBER
    )
    return _answer(result)


@router.post("/operators/{member_id:path}/unpause", dependencies=[_audited("unpauseOperator")])
async def unpause_operator(
    member_id: str,
    console: Console,
    authorization: Authorization = None,
    body: UnpauseBody | None = None,
) -> OrjsonResponse:
    """QueuePause (Paused: false). Supervisor."""
    data = body or UnpauseBody()
    result = await console.pause(
        authorization, member_id, data.queue, None, paused=False, from_path=_MEMBER
    )
    return _answer(result)


@router.post("/operators/{member_id:path}/listen", dependencies=[_audited("listenToOperator")])
async def listen_to_operator(
    member_id: str,
    console: Console,
    authorization: Authorization = None,
    body: ListenBody | None = None,
) -> OrjsonResponse:
    """Originate the supervisor's phone into ChanSpy on the operator's call. Supervisor."""
    data = body or ListenBody()
    result = await console.listen(
        authorization, member_id, ListenMode[data.mode], data.extension, from_path=_MEMBER
    )
    return _answer(result)


@router.post("/queues/{name}/members", dependencies=[_audited("addQueueMember")])
async def add_queue_member(
    name: str, body: AddMemberBody, console: Console, authorization: Authorization = None
) -> OrjsonResponse:
    """QueueAdd, or a realtime `queue_members` row. Admin."""
    result = await console.add_member(
        authorization,
        name,
        body.interface,
        member_name=body.member_name,
        state_interface=body.state_interface,
        penalty=body.penalty,
        paused=body.paused,
        from_path=_QUEUE,
    )
    return _answer(result)


@router.put(
    "/queues/{name}/members/{interface:path}/penalty", dependencies=[_audited("setMemberPenalty")]
)
async def set_member_penalty(
    name: str,
    interface: str,
    body: PenaltyBody,
    console: Console,
    authorization: Authorization = None,
) -> OrjsonResponse:
    """QueuePenalty. Supervisor."""
    result = await console.set_penalty(
        authorization, name, interface, body.penalty, from_path=_QUEUE_MEMBER
    )
    return _answer(result)


@router.delete(
    "/queues/{name}/members/{interface:path}", dependencies=[_audited("removeQueueMember")]
)
async def remove_queue_member(
    name: str, interface: str, console: Console, authorization: Authorization = None
) -> OrjsonResponse:
    """QueueRemove, or the realtime row's deletion. Admin."""
    result = await console.remove_member(authorization, name, interface, from_path=_QUEUE_MEMBER)
    return _answer(result)
