"""The AMI actions a live simulator answers: what each does to the call centre, and
the answer Asterisk 22 gives (the recorded traces' wording, errors included).

Each handler takes the centre, the action and its ActionID, and returns the
messages to send: a ``Response``, or a list (``Response`` … items …
``<Action>Complete``). The session around them (login, Ping, Events,
privileges) is :mod:`simulator.connection`'s.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable

from ingest.ami.message import AmiMessage, AmiMessageDict
from simulator.centre import CallCentre
from simulator.errors import (
    InterfaceNotFound,
    InvalidArgument,
    MemberExists,
    ModelError,
    NoSuchChannel,
    NoSuchQueue,
    NotAMember,
    NotDynamic,
    NotSimulated,
)
from simulator.wire import header

_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})
_LIST_MESSAGES = {
    "QueueStatus": "Queue status will follow",
    "QueueSummary": "Queue summary will follow",
    "CoreShowChannels": "Channels will follow",
    "DeviceStateList": "Device State Changes will follow",
}
_ORIGINATE_CHANNEL = re.compile(r"^Local/(?P<queue>[^@/]+)@callers(?:/n)?$")
_CALLER_ID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<num>[^>]*)>\s*$')
_NUMBER = re.compile(r"^[0-9+*#() .-]+$")
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")

Handler = Callable[[CallCentre, AmiMessageDict, str | None], list[AmiMessageDict]]
"""An action's handler: (centre, action, ActionID) → the messages answering it."""


def ast_true(value: str) -> bool:
    """Asterisk's ``ast_true``: yes, true, y, t, 1, on (any case)."""
    return value.strip().lower() in _TRUE


def ast_false(value: str) -> bool:
    """Asterisk's ``ast_false``: no, false, n, f, 0, off (any case)."""
    return value.strip().lower() in _FALSE


def reply(action_id: str | None, response: str, **fields: str) -> AmiMessageDict:
    """A ``Response`` (with the request's ActionID, when it had one) and ``fields``."""
    message: AmiMessageDict = {"Response": response}
    if action_id is not None:
        message["ActionID"] = action_id
    message.update(fields)
    return message


def error(action_id: str | None, text: str) -> list[AmiMessageDict]:
    """``Response: Error`` with ``text``."""
    return [reply(action_id, "Error", Message=text)]


def ok(action_id: str | None, text: str) -> list[AmiMessageDict]:
    """``Response: Success`` with ``text``."""
    return [reply(action_id, "Success", Message=text)]


def atoi(value: str) -> int:
    """C's ``atoi``/``sscanf("%d")``: the leading integer, 0 when there is none."""
    match = _LEADING_INT.match(value)
    return int(match[1]) if match else 0


def caller_id(value: str) -> tuple[str | None, str | None]:
    """(number, name) of an Originate's ``CallerID`` (``"Name" <num>``, ``num`` or ``Name``)."""
    match = _CALLER_ID.match(value)
    if match:
        return match["num"].strip() or None, match["name"].strip() or None
    text = value.strip().strip('"')
    if not text:
        return None, None
    return (text, None) if _NUMBER.match(text) else (None, text)


def action_id_of(message: AmiMessage) -> str | None:
    """The ActionID of a request (any case), or None without one."""
    value = message.get("ActionID")
    if value is None:
        value = next((v for k, v in message.items() if k.lower() == "actionid"), None)
    if value is None:
        return None
    return value if isinstance(value, str) else (value[0] if value else "")


def _list_reply(
    action: str,
    action_id: str | None,
    items: Iterable[AmiMessage],
    *,
    id_first: bool = False,
) -> list[AmiMessageDict]:
    """Response + items + ``<action>Complete``, ActionID where Asterisk puts it.

    app_queue's lists carry ActionID last; manager.c's lists (CoreShowChannel,
    DeviceStateChange) right after ``Event``.
    """
    out = [reply(action_id, "Success", EventList="start", Message=_LIST_MESSAGES[action])]
    for item in items:
        entry: AmiMessageDict = {}
        for key, value in item.items():
            entry[key] = value if isinstance(value, str) else list(value)
            if id_first and key == "Event" and action_id is not None:
                entry["ActionID"] = action_id
        if not id_first and action_id is not None:
            entry["ActionID"] = action_id
        out.append(entry)
    complete: AmiMessageDict = {"Event": f"{action}Complete"}
    if action_id is not None:
        complete["ActionID"] = action_id
    complete["EventList"] = "Complete"
    complete["ListItems"] = str(len(out) - 1)
    out.append(complete)
    return out


def _queue_status(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    items = model.queue_status(header(message, "Queue"), header(message, "Member"))
    return _list_reply("QueueStatus", action_id, items)


def _queue_summary(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    items = model.queue_summary(header(message, "Queue"))
    return _list_reply("QueueSummary", action_id, items)


def _core_show_channels(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    items = model.core_show_channels()
    return _list_reply("CoreShowChannels", action_id, items, id_first=True)


def _device_state_list(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    items = [
        {"Event": "DeviceStateChange", "Device": device, "State": state}
        for device, state in model.device_states()
    ]
    return _list_reply("DeviceStateList", action_id, items, id_first=True)


def _queue_add(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    queue, interface = header(message, "Queue"), header(message, "Interface")
    if not queue:
        return error(action_id, "'Queue' not specified.")
    if not interface:
        return error(action_id, "'Interface' not specified.")
    try:
        model.queue_add(
            queue,
            interface,
            name=header(message, "MemberName"),
            state_interface=header(message, "StateInterface"),
            # app_queue takes 0 for a bad or negative penalty or wrap-up.
            penalty=max(0, atoi(header(message, "Penalty"))),
            paused=ast_true(header(message, "Paused")),
            reason=header(message, "Reason"),
            wrapuptime=max(0, atoi(header(message, "Wrapuptime"))),
        )
    except MemberExists:
        return error(action_id, "Unable to add interface: Already there")
    except NoSuchQueue:
        return error(action_id, "Unable to add interface to queue: No such queue")
    return ok(action_id, "Added interface to queue")


def _queue_remove(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    queue, interface = header(message, "Queue"), header(message, "Interface")
    if not queue or not interface:
        return error(action_id, "Need 'Queue' and 'Interface' parameters.")
    try:
        model.queue_remove(queue, interface)
    except NotAMember:
        return error(action_id, "Unable to remove interface: Not there")
    except NotDynamic:
        return error(action_id, "Member not dynamic")
    except NoSuchQueue:
        text = "Unable to remove interface from queue: No such queue"
        return error(action_id, text)
    return ok(action_id, "Removed interface from queue")


def _queue_pause(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    interface, paused_text = header(message, "Interface"), header(message, "Paused")
    if not interface or not paused_text:
        return error(action_id, "Need 'Interface' and 'Paused' parameters.")
    paused = ast_true(paused_text)
    try:
        model.queue_pause(
            interface,
            paused,
            queue=header(message, "Queue") or None,
            reason=header(message, "Reason"),
        )
    except InterfaceNotFound:
        return error(action_id, "Interface not found")
    state = "paused" if paused else "unpaused"
    return ok(action_id, f"Interface {state} successfully")


def _queue_penalty(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    interface, penalty_text = header(message, "Interface"), header(message, "Penalty")
    if not interface or not penalty_text:
        return error(action_id, "Need 'Interface' and 'Penalty' parameters.")
    try:
        model.queue_penalty(interface, atoi(penalty_text), queue=header(message, "Queue") or None)
    except ModelError:
        return error(action_id, "Invalid interface, queuename or penalty")
    return ok(action_id, "Interface penalty set successfully")


def _queue_ringinuse(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    interface, value = header(message, "Interface"), header(message, "RingInUse")
    if not interface or not value:
        return error(action_id, "Need 'Interface' and 'RingInUse' parameters.")
    if not ast_true(value) and not ast_false(value):
        text = "'RingInUse' parameter must be a truth value (yes/no, on/off, 0/1, etc)"
        return error(action_id, text)
    try:
        model.queue_ringinuse(interface, ast_true(value), queue=header(message, "Queue") or None)
    except ModelError:
        text = "Invalid interface, queuename, or ringinuse value"
        return error(action_id, text)
    return ok(action_id, "Interface ringinuse set successfully")


def _setvar(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    variable = header(message, "Variable")
    if not variable:
        return error(action_id, "No variable specified")
    match = re.fullmatch(r"DEVICE_STATE\((?P<device>[^)]+)\)", variable, re.IGNORECASE)
    if match:
        try:
            model.set_device_state(match["device"], header(message, "Value"))
        except InvalidArgument:
            return error(action_id, "Failed to set variable")
    return ok(action_id, "Variable Set")


def _originate(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    """Originate: a caller (``Local/<queue>@callers``) or a supervisor into ChanSpy.

    Async, the answer comes at once and an ``OriginateResponse`` (with this
    ActionID, to every session reading ``call``) follows when the channel
    answered; without Async there is no OriginateResponse.
    """
    channel = header(message, "Channel")
    if not channel:
        return error(action_id, "Channel not specified")
    if "/" not in channel:
        return error(action_id, "Invalid channel")
    number, name = caller_id(header(message, "CallerID"))
    respond = ast_true(header(message, "Async"))
    data = header(message, "Data")
    if header(message, "Application").lower() == "chanspy":
        model.chanspy(
            channel,
            data,
            caller_num=number,
            caller_name=name,
            action_id=action_id,
            respond=respond,
        )
        return ok(action_id, "Originate successfully queued")
    match = _ORIGINATE_CHANNEL.match(channel)
    if match is None or match["queue"] not in model.queue_names:
        return error(action_id, "Originate failed")
    variables = message.get("Variable", [])
    talk: float | None = None
    for variable in [variables] if isinstance(variables, str) else variables:
        key, _, value = variable.partition("=")
        if key.strip().upper() == "TALK":
            with contextlib.suppress(ValueError):
                talk = float(value)
    try:
        patience = float(data or "60")
    except ValueError:
        patience = 60.0
    model.originate(
        match["queue"],
        caller_num=number,
        caller_name=name,
        patience=patience,
        talk=talk,
        respond=respond,
        action_id=action_id,
        data=data,
    )
    return ok(action_id, "Originate successfully queued")


def _hangup(
    model: CallCentre, message: AmiMessageDict, action_id: str | None
) -> list[AmiMessageDict]:
    """Hangup of a supervisor's spy leg (the only channels the simulator hangs up on request)."""
    channel = header(message, "Channel")
    if not channel:
        return error(action_id, "No channel specified")
    try:
        model.hangup(channel)
    except NoSuchChannel:
        return error(action_id, "No such channel")
    except NotSimulated:
        return error(action_id, "Simulator: only a ChanSpy leg can be hung up")
    return ok(action_id, "Channel Hungup")


LIVE_ACTIONS: dict[str, Handler] = {
    "queuestatus": _queue_status,
    "queuesummary": _queue_summary,
    "coreshowchannels": _core_show_channels,
    "devicestatelist": _device_state_list,
    "queueadd": _queue_add,
    "queueremove": _queue_remove,
    "queuepause": _queue_pause,
    "queuepenalty": _queue_penalty,
    "queuememberringinuse": _queue_ringinuse,
    "setvar": _setvar,
    "originate": _originate,
    "hangup": _hangup,
}
"""The actions a live simulator runs, by lower-case name."""
