"""/graphql's queries through the answer cache (`api.graphql.answers`), in front of
Strawberry's route.

A bare ASGI route registered ahead of Strawberry's, as `api.rest.StoredBytes`
is ahead of the REST routes: every middleware (the `Host` check, the body
cap and credentials before the body, the cross-origin write guard, CORS,
metrics) has run when a request gets here. A query whose answer is kept
for the caller's scope at the store's current version is answered with
those bytes: the body is parsed with orjson, the key looked up, the bytes
written — no Strawberry, no graphql-core. Anything else (not kept yet, not
cacheable, malformed, refused by the policy, a mirror behind the store,
Redis down) goes to Strawberry's route with the body as it came, so its
answers, errors and status codes stay the one source of truth; a cacheable
query's answer is kept on the way out when it is exact at the key's version
(`CachedAnswers._compute`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from api.auth import Action, Grant
from api.graphql.answers import Answer, AnswerCache, AnswerRule, CacheableDocument
from api.pbx_runtime import PbxRuntime
from api.runtime import runtime_of
from api.service import PINNED

_FIELDS = frozenset({"query", "operationName", "variables"})


@dataclass(frozen=True, slots=True)
class Operation:
    """What a request asks: the document, the operation's name, the variables."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None

    def canonical_variables(self) -> bytes:
        """The variables as canonical JSON (sorted keys), part of the key."""
        return orjson.dumps(self.variables or {}, option=orjson.OPT_SORT_KEYS)


def operation_of(
    method: str, headers: list[tuple[bytes, bytes]], query_string: bytes, body: bytes
) -> Operation | None:
    """The operation of a GET (query parameters) or POST (a JSON body) request; None for
    anything Strawberry should judge itself (other content types, batches, extensions)."""
    if method == "GET":
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        fields = dict(pairs)
        if len(fields) != len(pairs) or not fields.keys() <= _FIELDS:
            return None
        raw_variables = fields.get("variables")
        try:
            variables = None if raw_variables is None else orjson.loads(raw_variables)
        except orjson.JSONDecodeError:
            return None
        return _operation(fields.get("query"), fields.get("operationName"), variables)
    if method != "POST" or not _is_json(headers):
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not payload.keys() <= _FIELDS:
        return None
    return _operation(payload.get("query"), payload.get("operationName"), payload.get("variables"))


def _operation(query: object, operation_name: object, variables: object) -> Operation | None:
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return None
    if variables is not None and not isinstance(variables, dict):
        return None
    return Operation(query, operation_name, variables)


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def scope_identity(grant: Grant) -> Hashable:
    """What decides what a token sees: its role, queues and PBX entries (not the token
    itself: two tokens with the same scope share answers)."""
    pbxes = None if grant.pbxes is None else tuple(sorted(grant.pbxes.items()))
    return (grant.role, grant.queues, pbxes)


@dataclass(frozen=True, slots=True)
class _Reading:
    """The PBXes a request reads and where their state is: (name, mirror loads, version)."""

    pbxes: tuple[PbxRuntime, ...]
    at: tuple[tuple[str, int, int], ...]


class CachedAnswers:
    """The ASGI route of /graphql (GET and POST) in front of Strawberry's routes."""

    def __init__(self, cache: AnswerCache, rule: AnswerRule) -> None:
        self.cache = cache
        self.rule = rule
        self.own: BaseRoute | None = None
        """This route in the app (set when it is registered)."""
        self._next: dict[str, BaseRoute] = {}
        self._flights: dict[Hashable, asyncio.Future[Answer | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the cache when an exact answer is kept, else through Strawberry."""
        try:
            await self._answer(scope, receive, send)
        finally:
            scope["route"] = self.own  # counted at /metrics as /graphql, hit or not

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        executor = _Executor(self._after(scope))
        body, complete = await read_body(receive) if scope["method"] == "POST" else (b"", True)
        if not complete:
            return  # the client went away while sending
        replay = replaying(body, receive)
        operation = operation_of(
            scope["method"], scope["headers"], scope.get("query_string", b""), body
        )
        if operation is None:
            await executor.handle(scope, replay, send)
            return
        seen, document = self.rule.known(operation.query, operation.operation_name)
        if document is None:
            answer = await _answered(executor, scope, replay, send)
            if not seen and answer is not None and _without_errors(answer):
                # A valid document, seen for the first time: is it cacheable?
                self.rule.classify(operation.query, operation.operation_name)
            return
        found = await self._key(scope, document, operation)
        if found is None:  # refused, another PBX's error, a mirror behind: as always
            self.cache.missed()
            await executor.handle(scope, replay, send)
            return
        key, reading = found
        kept = self.cache.get(key)
        if kept is not None:
            await _send(send, kept)
            return
        flight = self._flights.get(key)
        if flight is not None:  # the same key is being computed: its answer, if kept
            kept = await asyncio.shield(flight)
            if kept is not None:
                self.cache.shared()
                await _send(send, kept)
                return
        self.cache.missed()
        if key in self._flights:  # another one computes it: this one only answers
            await executor.handle(scope, replay, send)
            return
        await self._compute(key, reading, document, executor, scope, replay, send)

    async def _compute(
        self,
        key: Hashable,
        reading: _Reading,
        document: CacheableDocument,
        executor: _Executor,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Let Strawberry answer, and keep the answer when it is exact: without errors,
        and computed at the version of the key. Requests with the same key that come
        meanwhile wait for it (concurrent misses compute once).

        The PBXes' mirrors are pinned at that version (`api.service.PINNED`): the
        collection reads take them without a round trip, so a document of collections
        is computed without yielding to the event loop, and it is exact when the
        mirrors are still there afterwards, however fast the store moves. A document
        with `operator` or `queue` (read from Redis) is exact when the store did not
        move meanwhile (one more round trip)."""
        flight: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        kept: Answer | None = None
        pinned = PINNED.set(
            tuple((pbx.mirror, at[2]) for pbx, at in zip(reading.pbxes, reading.at, strict=True))
        )
        try:
            answer = await _answered(executor, scope, receive, send)
            if answer is not None and _without_errors(answer):
                exact = (
                    _mirrors_still_at(reading)
                    if document.mirror_only
                    else await _unchanged(reading)
                )
                if exact:
                    self.cache.put(key, answer)
                    kept = answer
        finally:
            PINNED.reset(pinned)
            del self._flights[key]
            flight.set_result(kept)

    async def _key(
        self, scope: Scope, document: CacheableDocument, operation: Operation
    ) -> tuple[Hashable, _Reading] | None:
        """The request's cache key and the state of the PBXes it reads, when an answer
        may be served or kept: the policy lets it read, each mirror is at the store's
        version. None: leave the request to Strawberry."""
        names = document.pbxes(operation.variables)
        if names is None:
            return None
        runtime = runtime_of(scope["app"])
        authorization = _authorization(scope)
        try:
            grant = runtime.policy.check(Action.READ, authorization)
            pbxes = tuple(runtime.pbx(name, required=True) for name in names)
            for pbx in pbxes:
                pbx.policy.grant(authorization)  # out of the token's scope: NotFound
        except Exception:  # the executor answers with the error, as always
            return None
        at = await _at(pbxes)
        if at is None:
            return None
        key = (
            operation.query,
            operation.operation_name,
            operation.canonical_variables(),
            scope_identity(grant),
            at,
        )
        return key, _Reading(pbxes, at)

    async def lookup(self, scope: Scope, body: bytes) -> Answer | None:
        """The kept answer of a POST with this body, if there is one now (`api.hot_reads`
        asks before the middleware stack; anything else is this route's to answer)."""
        try:
            operation = operation_of("POST", scope["headers"], b"", body)
            if operation is None:
                return None
            document = self.rule.known(operation.query, operation.operation_name)[1]
            if document is None:
                return None
            found = await self._key(scope, document, operation)
            return None if found is None else self.cache.get(found[0])
        except Exception:  # whatever it is, the route answers it as always
            return None

    def _after(self, scope: Scope) -> BaseRoute:
        """The app's route that would have served this request without this one:
        Strawberry's (the first later route that matches; remembered per method)."""
        method = scope["method"]
        found = self._next.get(method)
        if found is None:
            routes = list(scope["app"].router.routes)
            later = routes[routes.index(self.own) + 1 :]
            found = next(r for r in later if r.matches(scope)[0] is Match.FULL)
            self._next[method] = found
        return found


def _mirrors_still_at(reading: _Reading) -> bool:
    """Whether every PBX's mirror is still at the load and version of the key."""
    return all(
        pbx.mirror.loads == loads and pbx.mirror.version == version
        for pbx, (_, loads, version) in zip(reading.pbxes, reading.at, strict=True)
    )


async def _unchanged(reading: _Reading) -> bool:
    """Whether every PBX read is still where it was before the answer was computed
    (then the answer is the state at that version, whatever the executor read)."""
    return await _at(reading.pbxes) == reading.at


async def _at(pbxes: tuple[PbxRuntime, ...]) -> tuple[tuple[str, int, int], ...] | None:
    """(name, mirror loads, store version) of each PBX whose mirror is at the store's
    version; None when one is not (or Redis does not answer)."""
    found = []
    for pbx in pbxes:
        mirror = pbx.mirror
        if not mirror.loaded:
            return None
        loads = mirror.loads
        try:
            version = await pbx.store.version()
        except Exception:  # Redis down: the executor answers (and reports it)
            return None
        if mirror.version != version or mirror.loads != loads:
            return None
        found.append((pbx.name, loads, version))
    return tuple(found)


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body (the request guard capped it); False: the client left."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read here once, then listens to the client."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


@dataclass(frozen=True, slots=True)
class _Executor:
    """Strawberry's route, which answers whatever the cache does not."""

    route: BaseRoute

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request as the app's router would have."""
        _, child = self.route.matches(scope)
        scope.update(child)
        await self.route.handle(scope, receive, send)


async def _answered(route: _Executor, scope: Scope, receive: Receive, send: Send) -> Answer | None:
    """Let Strawberry's route answer, and keep a copy of what it sent."""
    status = 0
    headers: tuple[tuple[bytes, bytes], ...] = ()
    chunks: list[bytes] = []

    async def copying(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            # Copied before the outer middlewares (CORS) add their own to the message.
            headers = tuple((bytes(name), bytes(value)) for name, value in message["headers"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        await send(message)

    await route.handle(scope, receive, copying)
    return Answer(status, headers, b"".join(chunks)) if status else None


def _without_errors(answer: Answer) -> bool:
    """A 200 with data and no `errors` (only those are kept). The test is on the bytes:
    `,"errors":` cannot occur inside a JSON string (its quotes are escaped), so a
    false alarm needs a field aliased `errors`, and only costs the caching."""
    return (
        answer.status == 200
        and answer.body.startswith(b'{"data":{')
        and b',"errors":' not in answer.body
    )


async def _send(send: Send, answer: Answer) -> None:
    await send(
        {"type": "http.response.start", "status": answer.status, "headers": list(answer.headers)}
    )
    await send({"type": "http.response.body", "body": answer.body})


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None
