"""The supervisor console: REST's and GraphQL's one way to act on Asterisk.

Each action is checked here — the caller's role and queue scope, every value
— then run by `ingest.actions.console.AsteriskConsole` (on an `api` process or a
standby, by the elected ingest's, through `api.action_relay`), and audited whatever
happens: refused by us (role, scope, input), refused by Asterisk, failed
(AMI down), done (confirmed by its events) or pending (Asterisk said yes, the
event did not come within ACTION_CONFIRM_TIMEOUT). The returned operator or
queue is read after the confirming event was applied: read-your-writes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from api.audit import AuditEntry, AuditTrail
from api.auth import AccessPolicy, Action, Grant
from api.errors import (
    ApiError,
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from api.scope import operator_for
from api.service import QueueStatusService
from ingest.actions import values
from ingest.actions.console import ActionOutcome, ActionRunner
from ingest.actions.requests import (
    AddMember,
    Listen,
    ListenMode,
    PauseMember,
    RemoveMember,
    SetPenalty,
)
from ingest.actions.verdicts import AsteriskRefused, RefusalKind
from ingest.clock import now_ms
from ingest.metrics import Metrics
from ingest.patches import JsonObject
from ingest.runners.ami_runner import AmiUnavailable

_REFUSALS: dict[RefusalKind, type[ApiError]] = {
    RefusalKind.BAD_INPUT: BadInput,
    RefusalKind.NOT_FOUND: NotFound,
    RefusalKind.CONFLICT: Conflict,
    RefusalKind.PERMISSION: Forbidden,
}
# The manager.conf write class each action needs (Asterisk's "Permission denied").
_WRITE_CLASS = {
    "QueuePause": "agent",
    "QueuePenalty": "agent",
    "QueueAdd": "agent",
    "QueueRemove": "agent",
    "Originate": "originate",
}


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did, for REST and GraphQL alike."""

    action: str
    pending: bool
    via: str
    asterisk_message: str
    version: int
    operator: JsonObject | None = None
    queue: JsonObject | None = None

    def as_json(self) -> dict[str, Any]:
        """The REST body's fields (camelCase)."""
        return {
            "action": self.action,
            "pending": self.pending,
            "via": self.via,
            "asteriskMessage": self.asterisk_message,
            "version": self.version,
            "operator": self.operator,
            "queue": self.queue,
        }


@dataclass(slots=True)
class _Attempt:
    """One action on its way: what the audit row will say."""

    action: str
    authorization: str | None
    arguments: dict[str, Any]
    queue: str | None = None
    member_id: str | None = None
    path_fields: frozenset[str] = frozenset()
    """The arguments a REST path gave (a malformed one is 404, not 400)."""
    grant: Grant = field(default_factory=Grant)
    started: float = field(default_factory=time.monotonic)
    relayed: bool = False
    """Sent through the action relay to the elected ingest (the audit row's `via`)."""


class SupervisorConsole:
    """Checks, runs and audits supervisor actions."""

    def __init__(
        self,
        service: QueueStatusService,
        policy: AccessPolicy,
        console: Callable[[], ActionRunner | None],
        audit: AuditTrail,
        *,
        pause_reasons: tuple[str, ...] = (),
        metrics: Metrics | None = None,
        pbx: str | None = None,
    ) -> None:
        self._pbx = pbx
        """The PBX named in every audit row's arguments (with PBXES; None without)."""
        self._service = service
        self._policy = policy
        self._console = console
        self._audit = audit
        self._metrics = metrics
        self.pause_reasons = pause_reasons

    @property
    def available(self) -> bool:
        """Whether actions can reach Asterisk at all (False with AMI_ENABLED=false)."""
        return self._console() is not None

    # --- the actions ---------------------------------------------------------------

    async def pause(
        self,
        authorization: str | None,
        member_id: str,
        queue: str | None,
        reason: str | None,
        *,
        paused: bool,
        from_path: frozenset[str] = frozenset(),
    ) -> ActionResult:
        """Pause (with a reason) or unpause a member in `queue`, or in every queue of
        theirs the grant covers."""
        name = "pauseOperator" if paused else "unpauseOperator"
        arguments: dict[str, Any] = {"memberId": member_id, "queue": queue}
        if paused:
            arguments["reason"] = reason
        attempt = _Attempt(name, authorization, arguments, queue, member_id, from_path)

        async def run(grant: Grant) -> ActionResult:
            interface = _checked(values.interface, member_id, "memberId")
            text = _checked(values.pause_reason, reason, self.pause_reasons) if paused else ""
            operator = await self._operator(interface)
            if queue is not None:
                target = _checked(values.queue_name, queue)
                _require_queue(grant, target)
                requests = [PauseMember(interface, (target,), paused, text)]
            else:
                mine = sorted((operator or {}).get("queues") or {})
                covered = [q for q in mine if grant.sees_queue(q)]
                if grant.scoped and not covered:
                    raise Forbidden(f"operator {interface} is in none of your queues")
                if grant.scoped:
                    # One action per queue in scope: a bare QueuePause would reach the rest.
                    requests = [PauseMember(interface, (q,), paused, text) for q in covered]
                else:
                    requests = [PauseMember(interface, tuple(mine), paused, text, all_queues=True)]
            outcomes = [await self._asterisk(attempt).send(request) for request in requests]
            return await self._result(grant, name, _combined(outcomes), member_id=interface)

        return await self._audited(attempt, run)

    async def add_member(
        self,
        authorization: str | None,
        queue: str,
        interface: str,
        *,
        member_name: str | None = None,
        state_interface: str | None = None,
        penalty: int = 0,
        paused: bool = False,
        from_path: frozenset[str] = frozenset(),
    ) -> ActionResult:
        """QueueAdd (or a realtime row) of `interface` into `queue`."""
        arguments = {
            "queue": queue,
            "interface": interface,
            "memberName": member_name,
            "stateInterface": state_interface,
            "penalty": penalty,
            "paused": paused,
        }
        attempt = _Attempt("addQueueMember", authorization, arguments, queue, interface, from_path)

        async def run(grant: Grant) -> ActionResult:
            member = AddMember(
                queue=_checked(values.queue_name, queue),
                interface=_checked(values.interface, interface),
                # Blank: no name (Asterisk shows the interface), as when it is left out.
                member_name=(
                    _checked(values.member_name, member_name)
                    if member_name and member_name.strip()
                    else ""
                ),
                state_interface=(
                    _checked(values.state_interface, state_interface) if state_interface else ""
                ),
                penalty=_checked(values.penalty, penalty),
                paused=paused,
            )
            _require_queue(grant, member.queue)
            outcome = await self._asterisk(attempt).add_member(member)
            return await self._result(
                grant, "addQueueMember", outcome, member_id=member.interface, queue=member.queue
            )

        return await self._audited(attempt, run)

    async def remove_member(
        self,
        authorization: str | None,
        queue: str,
        interface: str,
        *,
        from_path: frozenset[str] = frozenset(),
    ) -> ActionResult:
        """QueueRemove (or the realtime row's deletion) of `interface` from `queue`."""
        arguments = {"queue": queue, "interface": interface}
        attempt = _Attempt(
            "removeQueueMember", authorization, arguments, queue, interface, from_path
        )

        async def run(grant: Grant) -> ActionResult:
            member = RemoveMember(
                _checked(values.queue_name, queue), _checked(values.interface, interface)
            )
            _require_queue(grant, member.queue)
            outcome = await self._asterisk(attempt).remove_member(member)
            return await self._result(
                grant, "removeQueueMember", outcome, member_id=member.interface, queue=member.queue
            )

        return await self._audited(attempt, run)

    async def set_penalty(
        self,
        authorization: str | None,
        queue: str,
        interface: str,
        penalty: int,
        *,
        from_path: frozenset[str] = frozenset(),
    ) -> ActionResult:
        """QueuePenalty of `interface` in `queue`."""
        arguments = {"queue": queue, "interface": interface, "penalty": penalty}
        attempt = _Attempt(
            "setMemberPenalty", authorization, arguments, queue, interface, from_path
        )

        async def run(grant: Grant) -> ActionResult:
            request = SetPenalty(
                _checked(values.queue_name, queue),
                _checked(values.interface, interface),
                _checked(values.penalty, penalty),
            )
            _require_queue(grant, request.queue)
            outcome = await self._asterisk(attempt).send(request)
            return await self._result(
                grant, "setMemberPenalty", outcome, member_id=request.interface, queue=request.queue
            )

        return await self._audited(attempt, run)

    async def listen(
        self,
        authorization: str | None,
        member_id: str,
        mode: ListenMode,
        extension: str | None,
        *,
        from_path: frozenset[str] = frozenset(),
    ) -> ActionResult:
        """Ring the supervisor's phone into ChanSpy on the operator's current call."""
        arguments = {"memberId": member_id, "mode": mode.name, "extension": extension}
        attempt = _Attempt("listenToOperator", authorization, arguments, None, member_id, from_path)

        async def run(grant: Grant) -> ActionResult:
            interface = _checked(values.interface, member_id, "memberId")
            phone = extension or grant.extension
            if not phone:
                raise BadInput(
                    "listenToOperator needs the supervisor's extension: give `extension`, or "
                    "bind one to the token (API_TOKENS role:token:queues:extension)"
                )
            supervisor = _checked(values.extension, phone)
            operator = await self._operator(interface)
            if operator is None:
                raise NotFound(f"operator {interface!r} not found")
            if operator_for(grant, operator) is None:
                raise Forbidden(f"operator {interface} is in none of your queues")
            channel = operator.get("currentChannel")
            if not channel:
                raise Conflict(f"operator {interface} is on no call: there is nothing to listen to")
            request = Listen(supervisor, _checked(values.channel, str(channel)), mode)
            outcome = await self._asterisk(attempt).send(request)
            return await self._result(grant, "listenToOperator", outcome, member_id=interface)

        return await self._audited(attempt, run)

    def record_refusal(
        self, action: str, authorization: str | None, arguments: dict[str, Any], message: str
    ) -> None:
        """Audit an action the request guard refused before its body was read."""
        attempt = _Attempt(
            action,
            authorization,
            arguments,
            queue=arguments.get("name") or arguments.get("queue"),
            member_id=arguments.get("member_id") or arguments.get("interface"),
        )
        try:
            attempt.grant = self._policy.who(authorization)
        except Unauthenticated:
            attempt.grant = Grant()
        self._record(attempt, "refused", message=message)

    # --- the machinery ------------------------------------------------------------------

    def _asterisk(self, attempt: _Attempt) -> ActionRunner:
        console = self._console()
        if console is None:
            raise Conflict("supervisor actions need AMI: this server runs with AMI_ENABLED=false")
        attempt.relayed = console.relayed
        return console

    async def _operator(self, interface: str) -> JsonObject | None:
        try:
            return await self._service.operator(interface)
        except NotFound:
            return None

    async def _result(
        self,
        grant: Grant,
        action: str,
        outcome: ActionOutcome,
        *,
        member_id: str | None = None,
        queue: str | None = None,
    ) -> ActionResult:
        version = await self._service.store.version()
        # A scoped caller sees the memberships of its queues only, here as in reads.
        operator = operator_for(grant, await self._operator(member_id)) if member_id else None
        queue_view: JsonObject | None = None
        if queue is not None:
            try:
                queue_view = await self._service.queue(queue, grant)
            except NotFound:
                queue_view = None
        return ActionResult(
            action=action,
            pending=not outcome.confirmed,
            via=outcome.via,
            asterisk_message=outcome.asterisk_message,
            version=version,
            operator=operator,
            queue=queue_view,
        )

    async def _audited(
        self, attempt: _Attempt, run: Callable[[Grant], Awaitable[ActionResult]]
    ) -> ActionResult:
        try:
            # Who is asking, for the audit row even when the role check refuses.
            attempt.grant = self._policy.who(attempt.authorization)
        except Unauthenticated:
            attempt.grant = Grant()
        try:
            grant = self._policy.check(required_action(attempt.action), attempt.authorization)
            result = await run(grant)
        except AsteriskRefused as exc:
            self._record(attempt, "rejected", message=str(exc), asterisk=exc.asterisk_message)
            raise _refusal(exc) from None
        except values.InvalidValue as exc:
            refusal: ApiError = BadInput(str(exc))
            if exc.field in attempt.path_fields:
                # A path names a resource: one of no interface's form is none of ours.
                refusal = NotFound(f"no such {exc.field}: {exc.message}")
            self._record(attempt, "refused", message=refusal.message)
            raise refusal from None
        except (AmiUnavailable, ConnectionError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            self._record(attempt, "failed", message=reason)
            raise Unavailable(f"Asterisk could not be asked: {reason}") from None
        except ApiError as exc:
            outcome = "failed" if isinstance(exc, Unavailable) else "refused"
            self._record(attempt, outcome, message=exc.message)
            raise
        self._record(
            attempt,
            "pending" if result.pending else "ok",
            via=result.via,
            asterisk=result.asterisk_message or None,
        )
        return result

    def _record(
        self,
        attempt: _Attempt,
        outcome: str,
        *,
        message: str | None = None,
        asterisk: str | None = None,
        via: str | None = None,
    ) -> None:
        grant = attempt.grant
        if attempt.relayed:
            via = f"relay:{via}" if via else "relay"
        if self._metrics is not None:
            self._metrics.actions.labels(attempt.action, outcome).inc()
        self._audit.record(
            AuditEntry(
                at_ms=now_ms(),
                role=grant.role.name.lower() if grant.role is not None else None,
                token_fingerprint=grant.token_fingerprint,
                scope=grant.scope_label,
                action=attempt.action,
                arguments=self._arguments(attempt),
                outcome=outcome,
                queue=attempt.queue,
                member_id=attempt.member_id,
                via=via,
                asterisk_message=asterisk,
                message=message,
                duration_ms=round((time.monotonic() - attempt.started) * 1000),
            )
        )

    def _arguments(self, attempt: _Attempt) -> dict[str, Any]:
        arguments = {k: v for k, v in attempt.arguments.items() if v is not None}
        if self._pbx is not None:
            arguments["pbx"] = self._pbx
        return arguments


_MEMBERSHIP_ACTIONS = frozenset({"addQueueMember", "removeQueueMember"})


def required_action(name: str) -> Action:
    """The policy action an action name needs: admin changes memberships, a supervisor
    does the rest."""
    return Action.MANAGE_MEMBERS if name in _MEMBERSHIP_ACTIONS else Action.SUPERVISE


def _checked(check: Callable[..., Any], value: Any, *args: Any) -> Any:
    # InvalidValue goes up to `_audited`, which knows where the value came from.
    return check(value, *args)


def _require_queue(grant: Grant, queue: str) -> None:
    if not grant.sees_queue(queue):
        raise Forbidden(f"queue {queue!r} is outside your token's queues")


def _combined(outcomes: list[ActionOutcome]) -> ActionOutcome:
    """Several actions (one per queue) as one outcome: confirmed when all are."""
    first = outcomes[0]
    return ActionOutcome(
        all(o.confirmed for o in outcomes),
        first.via,
        "; ".join(dict.fromkeys(o.asterisk_message for o in outcomes if o.asterisk_message)),
    )


def _refusal(exc: AsteriskRefused) -> ApiError:
    error = _REFUSALS[exc.kind]
    message = f"Asterisk refused {exc.action}: {exc.asterisk_message}"
    if exc.kind is RefusalKind.PERMISSION:
        needed = _WRITE_CLASS.get(exc.action, "agent")
        message += f" (the AMI user needs write = {needed} in manager.conf)"
    return error(message, asterisk_message=exc.asterisk_message)
