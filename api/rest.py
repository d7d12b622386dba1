"""The REST compatibility router: the documented endpoints and response shapes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import AccessPolicy, Action
from api.responses import OrjsonResponse
from api.service import QueueStatusService, StatusCommand, parse_status

PREFIX = "/api/queue-status"


def _no_control_characters(value: str | None) -> str | None:
    # CR/LF could split an AMI action or a log line further down: refuse them here.
    if value is not None and any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain CR, LF or NUL characters")
    return value


class OperatorStatusBody(BaseModel):
    """The runbook's "imitate an AMI event" body. `updatedAt` is accepted and ignored:
    the server stamps its own time."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    member_id: str = Field(alias="memberId", min_length=1, max_length=256)
    status: str = Field(min_length=1, max_length=32)
    member_name: str | None = Field(default=None, alias="memberName", max_length=256)
    queue_name: str | None = Field(default=None, alias="queueName", max_length=128)
    paused: bool | None = None
    paused_reason: str | None = Field(default=None, alias="pausedReason", max_length=256)
    current_call_id: str | None = Field(default=None, alias="currentCallId", max_length=256)
    updated_at: int | None = Field(default=None, alias="updatedAt")

    _clean = field_validator(
        "member_id", "status", "member_name", "queue_name", "paused_reason", "current_call_id"
    )(_no_control_characters)

    def command(self) -> StatusCommand:
        """The validated command (unknown status → BadInput)."""
        return StatusCommand(
            member_id=self.member_id,
            status=parse_status(self.status),
            queue_name=self.queue_name or None,
            member_name=self.member_name or None,
            paused=self.paused,
            paused_reason=self.paused_reason,
            current_call_id=self.current_call_id or None,
        )


def get_service(request: Request) -> QueueStatusService:
    """The app's domain service."""
    service: QueueStatusService = request.app.state.service
    return service


def require(action: Action) -> Any:
    """A dependency that enforces the access policy for `action`."""

    def check(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        policy: AccessPolicy = request.app.state.policy
        policy.check(action, authorization)

    return Depends(check)


Service = Annotated[QueueStatusService, Depends(get_service)]
router = APIRouter(prefix=PREFIX, tags=["queue-status"], default_response_class=OrjsonResponse)


@router.get("/operators", dependencies=[require(Action.READ)])
async def list_operators(
    service: Service,
    queue: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    paused: bool | None = None,
) -> OrjsonResponse:
    """All operators, optionally filtered by queue, status and paused."""
    data = await service.operators(queue=queue, status=status, paused=paused)
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/operators/{member_id:path}", dependencies=[require(Action.READ)])
async def get_operator(member_id: str, service: Service) -> OrjsonResponse:
    """One operator by memberId (URL-encoded, e.g. PJSIP%2F1001)."""
    return OrjsonResponse({"success": True, "data": await service.operator(member_id)})


@router.post("/operators", status_code=201, dependencies=[require(Action.SET_STATUS)])
async def post_operator(body: OperatorStatusBody, service: Service) -> OrjsonResponse:
    """Set an operator's status as an AMI event would (goes through the reducer)."""
    data = await service.set_operator_status(body.command())
    return OrjsonResponse({"success": True, "data": data}, status_code=201)


@router.get("/snapshot", dependencies=[require(Action.READ)])
async def snapshot(service: Service) -> OrjsonResponse:
    """Operators, queues and channels at one version."""
    return OrjsonResponse({"success": True, "data": await service.snapshot()})


@router.get("/queues", dependencies=[require(Action.READ)])
async def list_queues(service: Service) -> OrjsonResponse:
    """All queues with waiting callers and member counts."""
    data = await service.queues()
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/queues/{name:path}", dependencies=[require(Action.READ)])
async def get_queue(name: str, service: Service) -> OrjsonResponse:
    """One queue."""
    return OrjsonResponse({"success": True, "data": await service.queue(name)})


@router.get("/channels", dependencies=[require(Action.READ)])
async def list_channels(
    service: Service, queue: Annotated[str | None, Query(max_length=128)] = None
) -> OrjsonResponse:
    """Active channels, optionally of one queue."""
    data = await service.channels(queue=queue)
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/sync/status", dependencies=[require(Action.READ)])
async def sync_status(service: Service) -> OrjsonResponse:
    """Database vs Redis counts, what differs, and the last sync."""
    return OrjsonResponse({"success": True, "data": await service.sync_status()})


@router.post("/sync/resync", dependencies=[require(Action.ADMIN)])
async def resync(service: Service) -> OrjsonResponse:
    """Reload the queue configuration from the database into Redis."""
    report = await service.resync()
    return OrjsonResponse(
        {"success": True, "message": "Resync completed", "data": report.as_json()}
    )


@router.delete("/clear", dependencies=[require(Action.ADMIN)])
async def clear(service: Service) -> OrjsonResponse:
    """Remove our keys from Redis (never FLUSHALL) and report what was removed."""
    removed = await service.clear()
    return OrjsonResponse(
        {"success": True, "message": "Queue status data cleared", "data": removed}
    )
