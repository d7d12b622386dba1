"""The GraphQL context: the domain service, the access policy, loaders, the live mirror.

One context per HTTP request, one per WebSocket connection (shared by its
operations). Credentials come from the `Authorization` header, or for a
WebSocket from the connection_init payload `{"authorization": "Bearer …"}`.
The view (`api.graphql.view.get_context`) builds it from the app's runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    value_from_ast_untyped,
)
from strawberry.fastapi import BaseContext

from api.auth import AccessPolicy, Action, Grant, unknown_pbx
from api.console import SupervisorConsole
from api.errors import BadInput, Unavailable
from api.graphql.loaders import Loaders, make_loaders
from api.live import LiveBroadcaster, LiveState
from api.service import QueueStatusService
from ingest.logs import log_on_behalf_of
from ingest.pbxes import DEFAULT_PBX


class GraphQLContext(BaseContext):
    """What resolvers reach through `info.context`."""

    def __init__(
        self,
        *,
        service: QueueStatusService,
        policy: AccessPolicy,
        broadcaster: LiveBroadcaster | None = None,
        mirror: LiveState | None = None,
        authorization: str | None = None,
        console: SupervisorConsole | None = None,
        pause_reasons: Sequence[str] = (),
        pbxes: PbxResolver | None = None,
        name: str = DEFAULT_PBX,
        names_pbx_in_logs: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self._names_pbx_in_logs = names_pbx_in_logs
        """With several PBXes a mutation's log lines name its PBX (`acting_at`)."""
        """The PBX this context reads (the default one for the operation's own context)."""
        self.service = service
        self.policy = policy
        self._pbxes = pbxes
        self._children: dict[str, GraphQLContext] = {}
        self._parent: GraphQLContext | None = None
        self.pause_reasons = tuple(pause_reasons)
        """The pause reasons a board offers (PAUSE_REASONS), for the `access` query."""
        self._broadcaster = broadcaster
        self._mirror = mirror
        self._header = authorization
        self.console = console
        self._loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        """The DataLoaders of this context (made on first use: most operations need none),
        limited to the scope of its token: nested lookups see what the root fields see."""
        if self._loaders is None:
            scope = self.policy.grant(self.authorization).queues
            self._loaders = make_loaders(self.service.store, scope)
        return self._loaders

    def at(self, pbx: str | None, info: Info | None = None) -> GraphQLContext:
        """The context of PBX `pbx` (None: the only one; with several PBXes a BAD_USER_INPUT
        naming `pbx`; unknown or out of the token's scope: NOT_FOUND). Its policy gives
        grants narrowed to that PBX. The nested lookups of the root field's result read
        the same PBX (`nested`); `info` is accepted for the root fields that pass it."""
        del info  # `nested` reads the root field's PBX from the operation itself
        if self._parent is not None:
            return self._parent.at(pbx)
        if self._pbxes is None:  # one PBX, no runtime to resolve others (unit tests)
            if pbx not in (None, "", self.name):
                raise unknown_pbx(pbx or "")
            child = self
        else:
            target = self._pbxes(pbx)
            known = self._children.get(target.name)
            if known is None:
                # Checked once per PBX and context (its credential does not change), not
                # on each nested lookup: out of the token's scope is NOT_FOUND, never kept.
                target.policy.grant(self.authorization)
                known = self._child(target)
            child = known
        return child

    def acting_at(self, pbx: str | None, info: Info | None = None) -> GraphQLContext:
        """`at`, for a mutation: with several PBXes the lines it logs from here on (a
        resync, an action on Asterisk) name its PBX, as REST's `?pbx=` does. Mutations
        run one after another in the operation's task, each naming its own."""
        if self._parent is not None:
            return self._parent.acting_at(pbx, info)
        child = self.at(pbx, info)
        if self._names_pbx_in_logs:
            log_on_behalf_of(child.name)
        return child

    def nested(self, info: Info) -> GraphQLContext:
        """The context a nested lookup reads: its root field's PBX (`at`).

        The PBX is the root field's `pbx` argument as written in this lookup's own
        operation, with this execution's variables (`root_pbx`), not something
        remembered on the context: one context serves every operation of a WebSocket
        connection, and two of them may share a response key on different PBXes."""
        root = self if self._parent is None else self._parent
        pbx = root_pbx(info)
        if pbx is None and root._pbxes is not None:
            try:
                return root.at(None)
            except BadInput:  # several PBXes and no `pbx`: the root field reported it
                return root
        return root.at(pbx)

    def _child(self, target: PbxParts) -> GraphQLContext:
        child = GraphQLContext(
            service=target.service,
            policy=target.policy,
            broadcaster=target.broadcaster,
            mirror=target.mirror,
            authorization=self._header,
            console=target.console,
            pause_reasons=self.pause_reasons,
            name=target.name,
        )
        child._parent = self
        self._children[target.name] = child
        return child

    @property
    def authorization(self) -> str | None:
        """The bearer credential: connection_init payload first, then the header."""
        if self._parent is not None:
            return self._parent.authorization
        params = self.connection_params
        if isinstance(params, dict):
            for key in ("authorization", "Authorization"):
                value = params.get(key)
                if isinstance(value, str) and value:
                    return value
        return self._header

    def allow(self, action: Action) -> QueueStatusService:
        """The service, once the policy allows `action` (else Unauthenticated/Forbidden)."""
        self.policy.check(action, self.authorization)
        return self.service

    def grant(self, action: Action) -> Grant:
        """The operation's `Grant` (role, queue scope, extension), once the policy allows
        `action` (else Unauthenticated/Forbidden). Reads pass it to the service, which
        limits what a scoped token sees (`api.scope`)."""
        return self.policy.check(action, self.authorization)

    def live(self) -> tuple[LiveBroadcaster, LiveState]:
        """The broadcaster and its live mirror, for subscriptions."""
        if self._broadcaster is None or self._mirror is None:
            raise Unavailable("subscriptions are not running in this process")
        return self._broadcaster, self._mirror

    def replica(self) -> LiveState | None:
        """The live mirror, which collection reads use when it is current (None when
        there is none)."""
        return self._mirror


class PbxParts(Protocol):
    """What a PBX gives a GraphQL context (`api.pbx_runtime.PbxRuntime`)."""

    @property
    def name(self) -> str: ...
    @property
    def service(self) -> QueueStatusService: ...
    @property
    def policy(self) -> AccessPolicy: ...
    @property
    def broadcaster(self) -> LiveBroadcaster: ...
    @property
    def mirror(self) -> LiveState | None: ...
    @property
    def console(self) -> SupervisorConsole | None: ...


PbxResolver = Callable[[str | None], PbxParts]
"""A PBX by name (None: the only one), raising BadInput/NotFound (`Runtime.pbx`)."""


def root_pbx(info: Info) -> str | None:
    """The `pbx` argument of the root field `info` is nested in, in `info`'s operation
    and with its variables (defaults applied); None when absent or null."""
    path = info.path
    while path.prev is not None:
        path = path.prev
    field = _root_field(info.operation.selection_set, str(path.key), info._raw_info.fragments)
    if field is None:
        return None
    for argument in field.arguments or ():
        if argument.name.value == "pbx":
            value = value_from_ast_untyped(argument.value, info.variable_values)
            return value if isinstance(value, str) else None
    return None


def _root_field(
    selections: SelectionSetNode, key: str, fragments: dict[str, FragmentDefinitionNode]
) -> FieldNode | None:
    """The root field whose response key is `key`, through fragments. Fields that share
    a response key have the same arguments (the document validated), so the first does."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            name = selection.alias or selection.name
            if name.value == key:
                return selection
            continue
        if isinstance(selection, InlineFragmentNode):
            found = _root_field(selection.selection_set, key, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            found = (
                None if fragment is None else _root_field(fragment.selection_set, key, fragments)
            )
        else:
            continue
        if found is not None:
            return found
    return None


Info: TypeAlias = strawberry.Info[GraphQLContext, None]
