"""What travels through the action relay: a console call and its answer, as JSON.

An `api` process relays each call its supervisor console would make on the
Asterisk console (`send`, `add_member`, `remove_member` with one request) to the
elected ingest, which answers with the outcome or with why there is none. The
ingest checks every value again as it decodes a call (`ingest.actions.values`):
whatever wrote to Redis, nothing reaches an AMI header unchecked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ingest.actions import values
from ingest.actions.console import ActionOutcome
from ingest.actions.requests import (
    AddMember,
    AmiRequest,
    Listen,
    ListenMode,
    PauseMember,
    RemoveMember,
    SetPenalty,
)

WIRE_VERSION = "1"
"""Bumped when a call's or an answer's form changes (an `api` and an ingest of different
releases during a rolling upgrade refuse each other's calls rather than misread them)."""

Method = Literal["send", "add_member", "remove_member"]
METHODS: tuple[Method, ...] = get_args(Method)

Failure = Literal["refused", "unavailable", "expired", "invalid", "failed"]
"""Why a call has no outcome: Asterisk refused it (its words), Asterisk could not be asked
(AMI down), nobody took it in time, it could not be read, or the ingest failed running it."""

_KINDS: dict[type[Any], str] = {
    PauseMember: "pause",
    AddMember: "add",
    RemoveMember: "remove",
    SetPenalty: "penalty",
    Listen: "listen",
}


class UnreadableCall(ValueError):
    """A relayed call that is not one this release can run."""


@dataclass(frozen=True, slots=True)
class Call:
    """One console call: the method and its request."""

    method: Method
    request: AmiRequest

    def encode(self) -> str:
        """The call as compact JSON."""
        return json.dumps(
            {"method": self.method, "request": _request_json(self.request)},
            separators=(",", ":"),
        )


def decode_call(text: str | bytes) -> Call:
    """A call read back, every value checked; UnreadableCall otherwise."""
    try:
        body = json.loads(text)
        method = body["method"]
        if method not in METHODS:
            raise UnreadableCall(f"unknown method {method!r}")
        return Call(method, _request_of(body["request"]))
    except UnreadableCall:
        raise
    except values.InvalidValue as exc:
        raise UnreadableCall(str(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnreadableCall(f"malformed call ({type(exc).__name__})") from None


@dataclass(frozen=True, slots=True)
class Answer:
    """The ingest's answer: an outcome, or a failure and its message (Asterisk's words
    for `refused`, with the refused AMI action)."""

    outcome: ActionOutcome | None = None
    failure: Failure | None = None
    message: str = ""
    action: str = ""

    def encode(self) -> str:
        """The answer as compact JSON."""
        if self.outcome is not None:
            body: dict[str, Any] = {
                "ok": True,
                "confirmed": self.outcome.confirmed,
                "via": self.outcome.via,
                "asteriskMessage": self.outcome.asterisk_message,
            }
        else:
            body = {"ok": False, "failure": self.failure, "message": self.message}
            if self.action:
                body["action"] = self.action
        return json.dumps(body, separators=(",", ":"))


def decode_answer(text: str | bytes) -> Answer:
    """An answer read back; an unreadable one is a `failed` answer saying so."""
    try:
        body = json.loads(text)
        if body["ok"] is True:
            via = body["via"]
            if via not in ("ami", "realtime"):
                raise ValueError(via)
            return Answer(ActionOutcome(bool(body["confirmed"]), via, str(body["asteriskMessage"])))
        failure = body["failure"]
        if failure not in get_args(Failure):
            raise ValueError(failure)
        return Answer(
            failure=failure, message=str(body["message"]), action=str(body.get("action", ""))
        )
    except (ValueError, KeyError, TypeError) as exc:
        return Answer(failure="failed", message=f"unreadable answer ({type(exc).__name__})")


def _request_json(request: AmiRequest) -> dict[str, Any]:
    kind = _KINDS[type(request)]
    if isinstance(request, PauseMember):
        return {
            "kind": kind,
            "interface": request.interface,
            "queues": list(request.queues),
            "paused": request.paused,
            "reason": request.reason,
            "allQueues": request.all_queues,
        }
    if isinstance(request, AddMember):
        return {
            "kind": kind,
            "queue": request.queue,
            "interface": request.interface,
            "memberName": request.member_name,
            "stateInterface": request.state_interface,
            "penalty": request.penalty,
            "paused": request.paused,
            "reason": request.reason,
        }
    if isinstance(request, RemoveMember):
        return {"kind": kind, "queue": request.queue, "interface": request.interface}
    if isinstance(request, SetPenalty):
        return {
            "kind": kind,
            "queue": request.queue,
            "interface": request.interface,
            "penalty": request.penalty,
        }
    return {
        "kind": kind,
        "supervisor": request.supervisor_channel,
        "spied": request.spied_channel,
        "mode": request.mode.name,
        "callerId": request.caller_id,
    }


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise values.InvalidValue(field, "must be true or false")
    return value


def _text(value: Any, field: str) -> str:
    """Optional free text (a reason, a name): blank, or one checked line."""
    if not isinstance(value, str):
        raise values.InvalidValue(field, "must be a string")
    return values.member_name(value, field) if value.strip() else ""


def _request_of(body: dict[str, Any]) -> AmiRequest:
    kind = body["kind"]
    if kind == "pause":
        queues = body["queues"]
        if not isinstance(queues, list):
            raise values.InvalidValue("queues", "must be a list")
        all_queues = _flag(body["allQueues"], "allQueues")
        if not queues and not all_queues:
            raise values.InvalidValue("queues", "must name a queue")
        return PauseMember(
            values.interface(body["interface"]),
            tuple(values.queue_name(q) for q in queues),
            _flag(body["paused"], "paused"),
            values.pause_reason(body["reason"]),
            all_queues,
        )
    if kind == "add":
        return AddMember(
            queue=values.queue_name(body["queue"]),
            interface=values.interface(body["interface"]),
            member_name=_text(body["memberName"], "memberName"),
            state_interface=(
                values.state_interface(body["stateInterface"]) if body["stateInterface"] else ""
            ),
            penalty=values.penalty(body["penalty"]),
            paused=_flag(body["paused"], "paused"),
            reason=values.pause_reason(body["reason"]),
        )
    if kind == "remove":
        return RemoveMember(values.queue_name(body["queue"]), values.interface(body["interface"]))
    if kind == "penalty":
        return SetPenalty(
            values.queue_name(body["queue"]),
            values.interface(body["interface"]),
            values.penalty(body["penalty"]),
        )
    if kind == "listen":
        return Listen(
            values.extension(body["supervisor"], "supervisor"),
            values.channel(body["spied"], "spied"),
            ListenMode[body["mode"]],
            _text(body["callerId"], "callerId"),
        )
    raise UnreadableCall(f"unknown action kind {kind!r}")
