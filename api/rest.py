"""The REST compatibility router: the documented endpoints and response shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.routing import APIRoute
from pydantic import BeforeValidator
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api.auth import Action, Grant
from api.commands import OperatorStatusBody
from api.pbx_health import visible_pbxes
from api.responses import OrjsonResponse, RawJsonResponse
from api.rest_pbx import RequestPbx
from api.runtime import runtime_of
from api.service import QueueStatusService, Replica

PREFIX = "/api/queue-status"


def _empty_is_absent(value: object) -> object:
    # `?queue=` is what a form or a client sends for "any": the same as no parameter,
    # on every list filter alike (it used to match nothing, and `?paused=` was a 422).
    return None if value == "" else value


EmptyIsAbsent = BeforeValidator(_empty_is_absent)
QueueFilter = Annotated[str | None, Query(max_length=128), EmptyIsAbsent]
StatusFilter = Annotated[str | None, Query(max_length=32), EmptyIsAbsent]
PausedFilter = Annotated[bool | None, EmptyIsAbsent]


# Dependencies are `async def`: FastAPI runs a plain `def` one in a worker thread,
# a thread hop per request for what is an attribute lookup.


async def get_service(pbx: RequestPbx) -> QueueStatusService:
    """The domain service of the request's PBX (`?pbx=`)."""
    return pbx.service


def require(action: Action) -> Any:
    """A dependency that enforces the access policy for `action` on the request's PBX and
    gives the request's `Grant` there (`Annotated[Grant, require(action)]`;
    `dependencies=[…]` when not needed)."""

    async def check(
        pbx: RequestPbx,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Grant:
        return pbx.policy.check(action, authorization)

    check.action = action  # type: ignore[attr-defined]  # read by api.openapi
    return Depends(check)


async def get_replica(pbx: RequestPbx) -> Replica | None:
    """The live mirror of the request's PBX, which collection reads use when it is current."""
    return pbx.mirror


Service = Annotated[QueueStatusService, Depends(get_service)]
Mirror = Annotated[Replica | None, Depends(get_replica)]
ReadGrant = Annotated[Grant, require(Action.READ)]
"""A read route's grant: what the request's token (if any) lets it see (`api.scope`)."""
router = APIRouter(prefix=PREFIX, tags=["queue-status"], default_response_class=OrjsonResponse)


class StoredBytes:
    """The hot reads (GET /operators, GET /snapshot) as a bare ASGI route.

    A plain GET is answered from already encoded bytes — the live mirror's
    when it is current, else the stored JSON (see `QueueStatusService.current`)
    — with the same policy check as the documented route but without
    FastAPI's per-request dependency and parameter machinery.
    Anything else — a query string (filters, their validation), another
    method, a token scoped to some queues (the bytes hold every queue) — goes
    to the documented FastAPI route, so its behaviour, errors and
    OpenAPI description stay the one source of truth. Errors raised here
    (policy, Redis down) reach the app's exception handlers like the route's.
    """

    def __init__(
        self, read: Callable[[QueueStatusService, Replica | None], Awaitable[bytes]]
    ) -> None:
        self._read = read
        self.route: APIRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a plain GET, hand the rest to the documented route."""
        route = self.route
        if route is None:  # pragma: no cover - bound when the module loads
            raise RuntimeError("StoredBytes is not bound to its route")
        # The documented route is the one requests are counted under (/metrics).
        scope["route"] = route
        body = await self.plain_body(scope, Headers(scope=scope).get("authorization"))
        if body is None:
            await route.handle(scope, receive, send)
            return
        await RawJsonResponse(body)(scope, receive, send)

    async def plain_body(self, scope: Scope, authorization: str | None) -> bytes | None:
        """The answer to a plain GET (no query string) of an unscoped caller, already
        encoded; None: the documented route answers. Raises what the route would
        (policy refusals, Redis down)."""
        if scope["method"] != "GET" or scope["query_string"]:
            return None
        pbx = runtime_of(scope["app"]).default  # no `?pbx=`: the default PBX
        grant = pbx.policy.check(Action.READ, authorization)
        if grant.queues is not None:
            return None
        return await self._read(pbx.service, pbx.mirror)


def _stored_bytes(
    path: str, read: Callable[[QueueStatusService, Replica | None], Awaitable[bytes]]
) -> None:
    """Register the bare route of `path` ahead of its documented route (bound later)."""
    # A Route whose endpoint is not a function is an ASGI app (typed for functions only).
    endpoint: Any = StoredBytes(read)
    router.add_route(PREFIX + path, endpoint, methods=["GET"], include_in_schema=False)


def stored_bytes_routes() -> dict[str, StoredBytes]:
    """The bare routes by path (`api.hot_reads` answers them ahead of the middlewares)."""
    return {
        route.path: route.endpoint
        for route in router.routes
        if isinstance(route, Route) and isinstance(route.endpoint, StoredBytes)
    }


def _bind_stored_bytes() -> None:
    for route in router.routes:
        if isinstance(route, Route) and isinstance(route.endpoint, StoredBytes):
            route.endpoint.route = next(
                api
                for api in router.routes
                if isinstance(api, APIRoute)
                and api.path == route.path
                and "GET" in (api.methods or ())
            )


async def _operators_body(service: QueueStatusService, replica: Replica | None) -> bytes:
    return await service.operators_json(replica)


async def _snapshot_body(service: QueueStatusService, replica: Replica | None) -> bytes:
    return await service.snapshot_json(replica)


_stored_bytes("/operators", _operators_body)
_stored_bytes("/snapshot", _snapshot_body)


@router.get("/operators")
async def list_operators(
    service: Service,
    replica: Mirror,
    grant: ReadGrant,
    queue: QueueFilter = None,
    status: StatusFilter = None,
    paused: PausedFilter = None,
) -> Response:
    """All operators, optionally filtered by queue, status and paused (empty: no filter).
    A token scoped to some queues sees their members, with those memberships only."""
    if queue is None and status is None and paused is None and not grant.scoped:
        # Unfiltered (e.g. `?unknown=1`): the JSON goes out as encoded once, never parsed.
        return RawJsonResponse(await _operators_body(service, replica))
    data = await service.operators(
        queue=queue, status=status, paused=paused, replica=replica, grant=grant
    )
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/operators/{member_id:path}")
async def get_operator(member_id: str, service: Service, grant: ReadGrant) -> OrjsonResponse:
    """One operator by memberId (URL-encoded, e.g. PJSIP%2F1001); 404 as well for an
    operator with no membership in a scoped token's queues."""
    return OrjsonResponse({"success": True, "data": await service.operator(member_id, grant)})


@router.post("/operators", status_code=201)
async def post_operator(
    body: OperatorStatusBody,
    service: Service,
    grant: Annotated[Grant, require(Action.SET_STATUS)],
) -> OrjsonResponse:
    """Set an operator's status as an AMI event would (goes through the reducer): this
    overrides the board, not Asterisk (use /operators/{memberId}/pause for that)."""
    data = await service.set_operator_status(body.command(), grant)
    return OrjsonResponse({"success": True, "data": data}, status_code=201)


@router.get("/snapshot")
async def snapshot(service: Service, replica: Mirror, grant: ReadGrant) -> Response:
    """Operators, queues and channels at one version (a scoped token's only)."""
    if grant.scoped:
        return OrjsonResponse({"success": True, "data": await service.snapshot(replica, grant)})
    return RawJsonResponse(await _snapshot_body(service, replica))


@router.get("/queues")
async def list_queues(service: Service, replica: Mirror, grant: ReadGrant) -> OrjsonResponse:
    """All queues with waiting callers and member counts (a scoped token's only)."""
    data = await service.queues(replica, grant)
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/queues/{name:path}")
async def get_queue(name: str, service: Service, grant: ReadGrant) -> OrjsonResponse:
    """One queue; 404 as well for a queue outside a scoped token's queues."""
    return OrjsonResponse({"success": True, "data": await service.queue(name, grant)})


@router.get("/channels")
async def list_channels(
    service: Service, replica: Mirror, grant: ReadGrant, queue: QueueFilter = None
) -> OrjsonResponse:
    """Active channels, optionally of one queue (empty: no filter). A scoped token sees
    the channels of its queues and of the operators it sees."""
    data = await service.channels(queue=queue, replica=replica, grant=grant)
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/access", dependencies=[require(Action.READ)])
async def access(request: Request, pbx: RequestPbx) -> OrjsonResponse:
    """What the request's token grants on the PBX (role, queues, extension, what it may
    do, the pause reasons), for a board to decide which controls to show."""
    runtime = runtime_of(request.app)
    summary = pbx.policy.describe(
        request.headers.get("authorization"),
        actions_possible=pbx.console is not None and pbx.console.available,
    )
    return OrjsonResponse(
        {"success": True, "data": summary.as_json(runtime.settings.pause_reasons)}
    )


async def _reader(request: Request, authorization: Annotated[str | None, Header()] = None) -> Grant:
    # The process' policy: a token of another PBX than the default one lists its own.
    return runtime_of(request.app).policy.check(Action.READ, authorization)


_reader.action = Action.READ  # type: ignore[attr-defined]  # read by api.openapi


@router.get("/pbxes", dependencies=[Depends(_reader)])
async def pbxes(request: Request) -> OrjsonResponse:
    """The PBXes the token may see (one, `default`, without PBXES), in PBXES order, each
    with its health: status, AMI connected, leadership, epoch, version, last sync,
    call records buffered."""
    runtime = runtime_of(request.app)
    data = await visible_pbxes(
        runtime.pbxes.values(), runtime.role, request.headers.get("authorization")
    )
    return OrjsonResponse({"success": True, "data": data, "count": len(data)})


@router.get("/sync/status")
async def sync_status(service: Service, grant: ReadGrant) -> OrjsonResponse:
    """Database vs Redis counts, what differs, and the last sync (403 for a scoped token:
    they cover every queue)."""
    return OrjsonResponse({"success": True, "data": await service.sync_status(grant)})


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


_bind_stored_bytes()
