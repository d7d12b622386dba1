"""Domain vocabulary shared by every writer and reader: states and their codes."""

from __future__ import annotations

from enum import StrEnum


class OperatorStatus(StrEnum):
    """What an operator's device is doing (from the AMI device state code)."""

    UNKNOWN = "unknown"
    IDLE = "idle"
    IN_CALL = "in_call"
    BUSY = "busy"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    RINGING = "ringing"
    ON_HOLD = "on_hold"


# AST_DEVICE_* codes as queue events report them (AMI-FACTS.md). 7 is
# RINGINUSE: the device rings while already in use — for a wallboard, ringing.
DEVICE_STATE_STATUS: dict[int, OperatorStatus] = {
    0: OperatorStatus.UNKNOWN,
    1: OperatorStatus.IDLE,
    2: OperatorStatus.IN_CALL,
    3: OperatorStatus.BUSY,
    4: OperatorStatus.INVALID,
    5: OperatorStatus.UNAVAILABLE,
    6: OperatorStatus.RINGING,
    7: OperatorStatus.RINGING,
    8: OperatorStatus.ON_HOLD,
}

# DeviceStateChange carries the state as a string, not the number.
DEVICE_STATE_NAMES: dict[str, OperatorStatus] = {
    "UNKNOWN": OperatorStatus.UNKNOWN,
    "NOT_INUSE": OperatorStatus.IDLE,
    "INUSE": OperatorStatus.IN_CALL,
    "BUSY": OperatorStatus.BUSY,
    "INVALID": OperatorStatus.INVALID,
    "UNAVAILABLE": OperatorStatus.UNAVAILABLE,
    "RINGING": OperatorStatus.RINGING,
    "RINGINUSE": OperatorStatus.RINGING,
    "ONHOLD": OperatorStatus.ON_HOLD,
}


def status_from_device_state(code: int) -> OperatorStatus:
    """Map an AST_DEVICE_* code; anything unexpected is `unknown`."""
    return DEVICE_STATE_STATUS.get(code, OperatorStatus.UNKNOWN)


class ChannelState(StrEnum):
    """AMI ChannelState codes 0–9, named."""

    DOWN = "down"
    RESERVED = "reserved"
    OFF_HOOK = "off_hook"
    DIALING = "dialing"
    RING = "ring"
    RINGING = "ringing"
    UP = "up"
    BUSY = "busy"
    DIALING_OFFHOOK = "dialing_offhook"
    PRE_RING = "pre_ring"
    UNKNOWN = "unknown"


CHANNEL_STATES: tuple[ChannelState, ...] = (
    ChannelState.DOWN,
    ChannelState.RESERVED,
    ChannelState.OFF_HOOK,
    ChannelState.DIALING,
    ChannelState.RING,
    ChannelState.RINGING,
    ChannelState.UP,
    ChannelState.BUSY,
    ChannelState.DIALING_OFFHOOK,
    ChannelState.PRE_RING,
)


def channel_state(code: int) -> ChannelState:
    """Map an AMI ChannelState code; anything unexpected is `unknown`."""
    if 0 <= code < len(CHANNEL_STATES):
        return CHANNEL_STATES[code]
    return ChannelState.UNKNOWN
