"""The application factory: settings in, a FastAPI app out; resources live in the lifespan.

The composition root: the lifespan opens Redis, the database, the store, the
service, the live mirror and its broadcaster, the audit trail (and the AMI
ingest) as one `api.runtime.Runtime`, attaches the GraphQL fan-out to the
broadcaster, and closes them all in reverse.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.action_relay_runtime import add_actions, build_actions
from api.alerts.metrics import AlertMetrics
from api.alerts.wiring import build_alert_engine
from api.audit import AuditTrail
from api.auth import AccessPolicy
from api.broadcast import Broadcaster
from api.console import SupervisorConsole
from api.errors import ApiError, Unavailable
from api.graphql.view import GRAPHQL_PATH, GraphQLView, attach_fanout, mount_graphql
from api.head import HeadAsGet
from api.health import add_alerts, add_audit, add_records, database_ping
from api.host_guard import HostAllowList, HostGuard
from api.ingest_runtime import build_ingest
from api.leadership_runtime import (
    IngestHolder,
    Role,
    add_role,
    build_election,
    runs_ingest,
    serves_api,
)
from api.live import LiveBroadcaster, LiveState
from api.middleware import CrossOriginWriteGuard, MetricsMiddleware, RepeatedQueryGuard
from api.openapi import install_openapi
from api.records_runtime import LiveRecords
from api.redis_runtime import RedisFollow, RedisLossMetrics, add_redis
from api.request_guard import RequestGuard
from api.responses import OrjsonResponse, error_body
from api.rest import router as rest_router
from api.rest_actions import router as actions_router
from api.rest_alerts import router as alerts_router
from api.rest_audit import router as audit_router
from api.rest_stats import router as stats_router
from api.routing import ActionPathMethods, allowed_methods
from api.runtime import Runtime, runtime_of
from api.service import QueueStatusService
from api.settings import Settings
from api.wallboard import mount_wallboard
from ingest.db.engine import make_engine
from ingest.election import LeaderGate
from ingest.keys import KeySchema
from ingest.logs import get_logger
from ingest.metrics import Metrics
from ingest.redis_client import make_redis
from ingest.store import StateStore
from ingest.sync import QueueDataSync
from ingest.tasks import cancel_and_wait

log = get_logger("Application")
errors_log = get_logger("HttpErrors")


def create_app(
    settings: Settings,
    *,
    redis: Redis | None = None,
    engine: AsyncEngine | None = None,
    role: Role = "all",
) -> FastAPI:
    """Build the app. `redis`/`engine` may be injected (the demo's fakeredis, tests);
    `role` (`api.leadership_runtime`) says whether it serves the API, runs the ingest, or both."""
    metrics = Metrics()
    policy = AccessPolicy.from_settings(settings)
    alert_metrics = AlertMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = _open_runtime(settings, policy, metrics, redis=redis, engine=engine, role=role)
        app.state.runtime = runtime
        if view is not None:
            attach_fanout(
                view,
                runtime.broadcaster,
                runtime.mirror,
                buffer_size=settings.graphql_subscriber_buffer,
            )
            runtime.alerts = build_alert_engine(
                settings, runtime.mirror, runtime.engine, alert_metrics
            )
            runtime.broadcaster.attach(runtime.alerts)  # started and stopped with it
        try:
            runtime.audit.start()
            await runtime.broadcaster.start()
            await _startup_sync(runtime)
            if runtime.records is not None:
                await runtime.records.start()  # before the ingest: the open calls come back
            if runtime.ingest is not None and runtime.election is not None:
                await runtime.election.start()  # a lone candidate leads now: the ingest runs
                if runtime.election.leader:
                    # The runbook's order: AMI connected, then "Application is running".
                    await runtime.ingest.wait_connected(timeout=3.0)
            if runtime.actions is not None:
                runtime.actions.start(runtime.tasks)  # serves relayed actions while leading
            runtime.redis_follow = RedisFollow(
                runtime.redis,
                runtime.store,
                functools.partial(_rebuild, runtime),
                RedisLossMetrics(metrics.registry),
                seen_version=lambda: runtime.mirror.version,
            )
            runtime.tasks.extend(runtime.redis_follow.start())
            log.info("Application is running on: http://%s:%d", settings.host, settings.port)
            yield
        finally:
            await runtime.broadcaster.stop()
            if view is not None:
                view.fanout = None
            await _close_runtime(runtime, own_redis=redis is None, own_engine=engine is None)

    app = FastAPI(
        title="Queue Status",
        version="0.1.0",
        description="Live operators, queues and calls of an Asterisk call centre.",
        lifespan=lifespan,
    )
    install_openapi(app, policy)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # HTTP only: Starlette's CORS does not see WebSockets; GraphQL checks their Origin itself.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
    )
    app.add_middleware(CrossOriginWriteGuard, allowed_origins=settings.cors_origins)
    app.add_middleware(RepeatedQueryGuard, path_prefix="/api/")
    # Inside CORS (which answers preflights itself): a method the action path does not
    # have is 405, not the neighbouring `{member_id:path}` route's answer.
    app.add_middleware(ActionPathMethods)
    _install_error_handlers(app)
    view = _mount_api(app, settings) if serves_api(role) else None
    _add_operational_routes(app, metrics)
    if serves_api(role):
        mount_wallboard(app)
    _install_front_guards(app, settings, policy)
    return app


def _mount_api(app: FastAPI, settings: Settings) -> GraphQLView:
    """REST and GraphQL (not on an `ingest`-only process)."""
    app.include_router(rest_router)
    app.include_router(audit_router)
    app.include_router(alerts_router)
    app.include_router(stats_router)
    app.include_router(actions_router)
    return mount_graphql(app, settings)


def _install_front_guards(app: FastAPI, settings: Settings, policy: AccessPolicy) -> None:
    """The outermost middlewares, in the order a request meets them: the `Host` check
    (DNS rebinding), HEAD as GET, then the body cap and credentials before the body.
    Added last, so they run before everything else (GraphQL's WebSocket limits too)."""
    app.add_middleware(
        RequestGuard,
        max_body=settings.max_body_bytes,
        policy=policy,
        graphql_path=GRAPHQL_PATH,
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(HostGuard, allowed=HostAllowList(settings.trusted_hosts))


def _open_runtime(
    settings: Settings,
    policy: AccessPolicy,
    metrics: Metrics,
    *,
    redis: Redis | None,
    engine: AsyncEngine | None,
    role: Role = "all",
) -> Runtime:
    client = redis if redis is not None else make_redis(settings)
    database = (
        engine if engine is not None else make_engine(settings.database_url.get_secret_value())
    )
    store = StateStore(client, KeySchema(settings.redis_key_prefix))
    sync = QueueDataSync(
        store,
        database,
        database_is_authoritative=lambda: not settings.ami_enabled,
        metrics=metrics,
    )
    holder = IngestHolder()
    election = (
        build_election(client, store.keys, settings.ingest_lease_seconds, metrics.registry, holder)
        if settings.ami_enabled and runs_ingest(role)
        else None
    )
    records = (
        LiveRecords(
            settings,
            client,
            store.keys,
            database,
            metrics.registry,
            guard=LeaderGate(election) if election is not None else None,
        )
        if runs_ingest(role)
        else None
    )
    holder.records = records
    ingest = holder.ingest = (
        build_ingest(
            settings,
            store,
            sync,
            records.tap if records is not None else None,
            epoch=election.fencing_epoch,
            on_stale=election.refused_as_stale,
        )
        if election is not None
        else None
    )
    service = QueueStatusService(
        store,
        sync,
        metrics=metrics,
        # A standby has no AMI session of its own to report (/healthz says standby).
        ingest_status=lambda: ingest.status if ingest and election and election.leader else None,
        request_reconcile=ingest.request_reconcile if ingest else None,
    )
    # One pub/sub connection per process keeps the live mirror current.
    mirror = LiveState(store)
    broadcaster: LiveBroadcaster = Broadcaster(
        store.redis,
        store.keys.changes,
        mirror,
        buffer_size=settings.graphql_subscriber_buffer,
        current_version=store.version,
    )
    audit = AuditTrail(database, buffer_size=settings.audit_buffer_size, metrics=metrics)
    actions = build_actions(
        settings,
        client,
        store,
        database,
        metrics.registry,
        role=role,
        ingest=ingest,
        election=election,
    )
    console = SupervisorConsole(
        service,
        policy,
        actions.console,
        audit,
        pause_reasons=tuple(settings.pause_reasons),
        metrics=metrics,
    )
    return Runtime(
        settings,
        policy,
        client,
        database,
        store,
        sync,
        service,
        mirror,
        broadcaster,
        audit=audit,
        ingest=ingest,
        console=console,
        records=records,
        election=election,
        role=role,
        actions=actions,
    )


async def _startup_sync(runtime: Runtime) -> None:
    """Sync once before serving; if the DB or Redis is down, keep retrying in the background."""
    try:
        await runtime.sync.run()
    except Exception as exc:  # DB or Redis down: serve what Redis holds, heal later
        log.warning(
            "Startup synchronization failed (%s); retrying in the background", type(exc).__name__
        )
        runtime.tasks.append(
            asyncio.create_task(runtime.sync.run_until_success(), name="sync-retry")
        )


async def _rebuild(runtime: Runtime, reason: str) -> None:
    """Redis lost the live state: Asterisk's snapshot and the database bring it back."""
    if runtime.ingest is not None:
        runtime.ingest.request_reconcile(reason)
    await runtime.sync.run()


async def _close_runtime(runtime: Runtime, *, own_redis: bool, own_engine: bool) -> None:
    if runtime.election is not None:
        await runtime.election.stop()  # the lease is given up: a standby takes over at once
    if runtime.ingest is not None:
        await runtime.ingest.stop()
    if runtime.records is not None:
        await runtime.records.stop()  # after the ingest: nothing feeds the builder any more
    await cancel_and_wait(*runtime.tasks)
    await runtime.audit.stop()  # last: what the ingest and the tasks recorded, then the engine
    if own_redis:
        await runtime.redis.aclose()
    if own_engine:
        await runtime.engine.dispose()


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        headers = {}
        if isinstance(exc, Unavailable):
            headers["Retry-After"] = str(exc.retry_after_seconds)
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        body = error_body(exc.message)
        if exc.asterisk_message is not None:
            body["asteriskMessage"] = exc.asterisk_message
        return OrjsonResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return OrjsonResponse(error_body("malformed JSON body"), status_code=400)
        if any(tuple(p.get("loc", ())) == ("body",) for p in problems):
            # Not a JSON object at all (e.g. a form post without Content-Type: application/json).
            return OrjsonResponse(error_body("the body must be a JSON object"), status_code=400)
        parts = []
        for problem in problems:
            where = ".".join(str(x) for x in problem.get("loc", ()) if x != "body")
            parts.append(
                f"{where}: {problem.get('msg', 'invalid')}"
                if where
                else problem.get("msg", "invalid")
            )
        return OrjsonResponse(error_body("; ".join(parts) or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only
            # (GET of /operators, not its POST): name them all (found by schemathesis).
            methods = allowed_methods(request.app.routes, request.scope)
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return OrjsonResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RedisError)
    async def redis_down(_: Request, exc: RedisError) -> Response:
        errors_log.error("Redis unavailable: %s", type(exc).__name__)
        return OrjsonResponse(
            error_body("Redis is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": str(Unavailable.retry_after_seconds)},
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        errors_log.exception("Unhandled error: %s", type(exc).__name__)
        return OrjsonResponse(error_body("internal server error"), status_code=500)


READY_PING_SECONDS = 1.0
"""How long `/readyz` waits for Redis' PING before calling the process not ready."""


def _add_operational_routes(app: FastAPI, metrics: Metrics) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> Response:
        """Redis, database and AMI state: 200 while serving, 503 when Redis is down."""
        runtime = runtime_of(request.app)
        serving, details = await runtime.service.health(lambda: database_ping(runtime.engine))
        add_audit(details, runtime.audit.stats())
        add_role(details, runtime.role, runtime.election)
        if runtime.actions is not None:
            add_actions(details, await runtime.actions.health())
        add_redis(details, runtime.redis_follow)
        if runtime.records is not None:
            add_records(details, await runtime.records.health())
        if runtime.alerts is not None:
            add_alerts(details, runtime.alerts.health())
        body = {"success": serving, "data": details}
        headers = {} if serving else {"Retry-After": str(Unavailable.retry_after_seconds)}
        return OrjsonResponse(body, status_code=200 if serving else 503, headers=headers)

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> Response:
        """Ready for traffic (a load balancer's or Kubernetes' readiness probe): Redis
        answers and, where the API is served, the live mirror is loaded. 503 otherwise."""
        runtime = runtime_of(request.app)
        try:
            async with asyncio.timeout(READY_PING_SECONDS):
                redis_ok = bool(await runtime.redis.ping())
        except (RedisError, OSError, TimeoutError):
            redis_ok = False
        mirror_loaded = runtime.mirror.loaded if serves_api(runtime.role) else None
        ready = redis_ok and mirror_loaded is not False
        body = {
            "success": ready,
            "data": {
                "ready": ready,
                "role": runtime.role,
                "redis": redis_ok,
                "mirrorLoaded": mirror_loaded,
            },
        }
        headers = {} if ready else {"Retry-After": str(Unavailable.retry_after_seconds)}
        return OrjsonResponse(body, status_code=200 if ready else 503, headers=headers)

    @app.get("/metrics", tags=["operations"])
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus exposition format (a bearer token when METRICS_TOKEN is set)."""
        runtime_of(request.app).policy.check_metrics(request.headers.get("authorization"))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
