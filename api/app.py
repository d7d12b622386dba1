"""The application factory: settings in, a FastAPI app out; resources live in the lifespan.

The composition root: the lifespan opens Redis, the database, the store, the
service, the live mirror and its broadcaster, the audit trail (and the AMI
ingest) as one `api.runtime.Runtime`, attaches the GraphQL fan-out to the
broadcaster, and closes them all in reverse.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp

from api.alerts.metrics import AlertMetrics
from api.alerts.wiring import build_alert_engine
from api.audit import AuditTrail
from api.auth import AccessPolicy
from api.errors import ApiError, Unavailable
from api.graphql.view import GRAPHQL_PATH, GraphQLView, attach_fanout, mount_graphql
from api.head import HeadAsGet
from api.health import add_audit, database_ping
from api.host_guard import HostAllowList, HostGuard
from api.hot_reads import HotReads
from api.leadership_runtime import Role, serves_api
from api.middleware import CrossOriginWriteGuard, MetricsMiddleware, RepeatedQueryGuard
from api.openapi import install_openapi
from api.pbx_health import pbx_health
from api.pbx_metrics import exposition_registry
from api.pbx_runtime import PbxRuntime, open_pbx
from api.redis_runtime import RedisFollow, RedisLossMetrics, master_watch
from api.request_guard import RequestGuard
from api.responses import OrjsonResponse, error_body
from api.rest import router as rest_router
from api.rest import stored_bytes_routes
from api.rest_actions import router as actions_router
from api.rest_alerts import router as alerts_router
from api.rest_audit import router as audit_router
from api.rest_stats import router as stats_router
from api.routing import ActionPathMethods, allowed_methods
from api.runtime import Runtime, runtime_of
from api.settings import Settings
from api.wallboard import mount_wallboard
from ingest.db.engine import make_engine
from ingest.db.repository import DatabaseUnavailable
from ingest.logs import get_logger, logging_for_pbx
from ingest.loop_lag import LoopLag, LoopLagCollector
from ingest.metrics import Metrics
from ingest.redis_client import make_redis
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
    # With PBXES each PBX counts into a registry of its own, labelled `pbx` at /metrics.
    pbx_metrics = {
        pbx.name: Metrics() if settings.several_pbxes else metrics for pbx in settings.pbx_configs
    }
    alert_metrics = {name: AlertMetrics(m.registry) for name, m in pbx_metrics.items()}
    loop_lag = LoopLag()
    metrics.registry.register(LoopLagCollector(loop_lag))
    exposed = (
        exposition_registry(metrics.registry, {name: m.registry for name, m in pbx_metrics.items()})
        if settings.several_pbxes
        else metrics.registry
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = _open_runtime(
            settings, policy, metrics, pbx_metrics, redis=redis, engine=engine, role=role
        )
        runtime.loop_lag = loop_lag
        app.state.runtime = runtime
        if view is not None:
            for pbx in runtime.pbxes.values():
                attach_fanout(
                    view,
                    pbx.name,
                    pbx.broadcaster,
                    pbx.mirror,
                    buffer_size=settings.graphql_subscriber_buffer,
                )
                pbx.alerts = build_alert_engine(
                    settings,
                    pbx.mirror,
                    runtime.engine,
                    alert_metrics[pbx.name],
                    pbx=pbx.name if settings.several_pbxes else None,
                )
                pbx.broadcaster.attach(pbx.alerts)  # started and stopped with it
        try:
            runtime.tasks.append(asyncio.create_task(loop_lag.run(), name="loop-lag"))
            runtime.audit.start()
            for pbx in runtime.pbxes.values():
                with logging_for_pbx(_logged_name(settings, pbx)):  # its tasks inherit it
                    await _start_pbx(runtime, pbx)
            if runtime.master_watch is not None:  # once every PBX follows it
                runtime.tasks.append(
                    asyncio.create_task(runtime.master_watch.run(), name="sentinel-watch")
                )
            log.info("Application is running on: http://%s:%d", settings.host, settings.port)
            yield
        finally:
            for pbx in runtime.pbxes.values():
                with logging_for_pbx(_logged_name(settings, pbx)):
                    await pbx.broadcaster.stop()
            if view is not None:
                view.fanouts = {}
            await _close_runtime(runtime, own_redis=redis is None, own_engine=engine is None)

    app = QueueStatusApp(
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
    view = _mount_api(app, settings, metrics) if serves_api(role) else None
    _add_operational_routes(app, exposed)
    if serves_api(role):
        mount_wallboard(app)
    _install_front_guards(app, settings, policy)
    if serves_api(role):
        hosts = HostAllowList(settings.trusted_hosts)
        answers = None if view is None else view.answers
        app.front = lambda stack: HotReads(
            stack,
            reads=stored_bytes_routes(),
            answers=answers,
            graphql_path=GRAPHQL_PATH,
            hosts=hosts,
            max_body=settings.max_body_bytes,
            metrics=metrics,
        )
    return app


class QueueStatusApp(FastAPI):
    """FastAPI with a layer in front of its whole middleware stack (`api.hot_reads`)."""

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        """The stack Starlette builds, behind `front` when there is one."""
        stack = super().build_middleware_stack()
        return stack if self.front is None else self.front(stack)


def _mount_api(app: FastAPI, settings: Settings, metrics: Metrics) -> GraphQLView:
    """REST and GraphQL (not on an `ingest`-only process)."""
    app.include_router(rest_router)
    app.include_router(audit_router)
    app.include_router(alerts_router)
    app.include_router(stats_router)
    app.include_router(actions_router)
    return mount_graphql(app, settings, metrics.registry)


def _install_front_guards(app: FastAPI, settings: Settings, policy: AccessPolicy) -> None:
    """The outermost middlewares, in the order a request meets them: the `Host` check
    (DNS rebinding), HEAD as GET, then the body cap and credentials before the body.
    Added last, so they run before everything else (GraphQL's WebSocket limits too);
    only `api.hot_reads` is in front of them, and it answers nothing they would judge."""
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
    pbx_metrics: dict[str, Metrics],
    *,
    redis: Redis | None,
    engine: AsyncEngine | None,
    role: Role = "all",
) -> Runtime:
    client = redis if redis is not None else make_redis(settings)
    database = (
        engine if engine is not None else make_engine(settings.database_url.get_secret_value())
    )
    audit = AuditTrail(database, buffer_size=settings.audit_buffer_size, metrics=metrics)
    pbxes = {
        config.name: open_pbx(
            settings,
            config,
            policy,
            pbx_metrics[config.name],
            redis=client,
            engine=database,
            audit=audit,
            role=role,
        )
        for config in settings.pbx_configs
    }
    return Runtime(
        settings,
        policy,
        client,
        database,
        audit,
        pbxes,
        role=role,
        master_watch=master_watch(client),
    )


async def _start_pbx(runtime: Runtime, pbx: PbxRuntime) -> None:
    """One PBX's mirror, sync, records, election, action relay and Redis watches (its own
    state's losses; behind Sentinel, it follows the process's one `MasterWatch`), in the
    runbook's order."""
    await pbx.broadcaster.start()
    await _startup_sync(pbx)
    if pbx.records is not None:
        await pbx.records.start()  # before the ingest: the open calls come back
    if pbx.ingest is not None and pbx.election is not None:
        await pbx.election.start()  # a lone candidate leads now: the ingest runs
        if pbx.election.leader:
            # The runbook's order: AMI connected, then "Application is running".
            await pbx.ingest.wait_connected(timeout=3.0)
    if pbx.actions is not None:
        pbx.actions.start(pbx.tasks)  # serves relayed actions while leading
    mirror = pbx.mirror
    pbx.redis_follow = RedisFollow(
        pbx.store,
        functools.partial(_rebuild, pbx),
        RedisLossMetrics(pbx.metrics.registry),
        seen_version=lambda: mirror.version,
        master_watch=runtime.master_watch,
    )
    pbx.tasks.extend(pbx.redis_follow.start())


def _logged_name(settings: Settings, pbx: PbxRuntime) -> str | None:
    """The name a PBX's log lines carry: none without PBXES (the lines as documented)."""
    return pbx.name if settings.several_pbxes else None


async def _startup_sync(pbx: PbxRuntime) -> None:
    """Sync once before serving; if the DB or Redis is down, keep retrying in the background."""
    try:
        await pbx.sync.run()
    except Exception as exc:  # DB or Redis down: serve what Redis holds, heal later
        log.warning(
            "Startup synchronization failed (%s); retrying in the background", type(exc).__name__
        )
        pbx.tasks.append(asyncio.create_task(pbx.sync.run_until_success(), name="sync-retry"))


async def _rebuild(pbx: PbxRuntime, reason: str) -> None:
    """Redis lost the live state: Asterisk's snapshot and the database bring it back."""
    if pbx.ingest is not None:
        pbx.ingest.request_reconcile(reason)
    await pbx.sync.run()


async def _close_pbx(pbx: PbxRuntime) -> None:
    if pbx.election is not None:
        await pbx.election.stop()  # the lease is given up: a standby takes over at once
    if pbx.ingest is not None:
        await pbx.ingest.stop()
    if pbx.records is not None:
        await pbx.records.stop()  # after the ingest: nothing feeds the builder any more
    await cancel_and_wait(*pbx.tasks)


async def _close_runtime(runtime: Runtime, *, own_redis: bool, own_engine: bool) -> None:
    closing = []
    for pbx in runtime.pbxes.values():
        with logging_for_pbx(_logged_name(runtime.settings, pbx)):
            closing.append(asyncio.ensure_future(_close_pbx(pbx)))  # a task in its context
    await asyncio.gather(*closing)
    await cancel_and_wait(*runtime.tasks)
    await runtime.audit.stop()  # last: what the ingest and the tasks recorded, then the engine
    for pbx in runtime.pbxes.values():
        if pbx.own_database:
            await pbx.database.dispose()
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


def _add_operational_routes(app: FastAPI, registry: CollectorRegistry) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> Response:
        """Redis, database and AMI state: 200 while serving, 503 when Redis is down. With
        PBXES the top level is the default PBX's and `pbxes` has every PBX's own."""
        runtime = runtime_of(request.app)
        serving, details = await pbx_health(runtime.default, runtime.role)
        database_up = runtime.default.database is runtime.engine or await _pinged(runtime.engine)
        if not database_up and details.get("status") == "ok":
            details["status"] = "degraded"
        add_audit(details, runtime.audit.stats())
        details["eventLoop"] = runtime.loop_lag.as_json()
        if runtime.several:
            sections = {}
            for name, pbx in runtime.pbxes.items():
                pbx_serving, section = await pbx_health(pbx, runtime.role)
                sections[name] = section
                if section.get("status") != "ok" and details.get("status") == "ok":
                    details["status"] = "degraded"
                serving = serving and pbx_serving
            details["pbxes"] = sections
        body = {"success": serving, "data": details}
        headers = {} if serving else {"Retry-After": str(Unavailable.retry_after_seconds)}
        return OrjsonResponse(body, status_code=200 if serving else 503, headers=headers)

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> Response:
        """Ready for traffic (a load balancer's or Kubernetes' readiness probe): Redis
        answers and, where the API is served, every PBX's live mirror is loaded. 503
        otherwise."""
        runtime = runtime_of(request.app)
        try:
            async with asyncio.timeout(READY_PING_SECONDS):
                redis_ok = bool(await runtime.redis.ping())
        except (RedisError, OSError, TimeoutError):
            redis_ok = False
        mirror_loaded = (
            all(pbx.mirror.loaded for pbx in runtime.pbxes.values())
            if serves_api(runtime.role)
            else None
        )
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
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def _pinged(engine: AsyncEngine) -> bool:
    try:
        await database_ping(engine)
    except DatabaseUnavailable:
        return False
    return True
