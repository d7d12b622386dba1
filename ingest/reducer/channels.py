"""Channels (call legs): created on Newchannel, kept current, deleted on Hangup.

Every channel Asterisk reports is kept, so a CoreShowChannels snapshot can be
compared one to one. Queue and agent events carry channel snapshots too; they
refresh a channel we know and name its queue and member, but never create one
(`create=False`): an AgentComplete can arrive after its channels hung up, and
must not bring half a channel back.
"""

from __future__ import annotations

from typing import Any

from ingest.ami.events import (
    ChannelInfo,
    Hangup,
    NewCallerid,
    Newchannel,
    NewConnectedLine,
    Newstate,
)
from ingest.domain import ChannelState, channel_state
from ingest.patches import Change, Patch, delete
from ingest.reducer.dispatch import register


def channel_fields(info: ChannelInfo) -> dict[str, Any]:
    """The channel entity fields a channel snapshot carries.

    None (no caller id, say) removes the field: the merge patch reads None as
    "not set", which is what Asterisk says.
    """
    return {
        "uniqueId": info.uniqueid,
        "linkedId": info.linkedid,
        "state": channel_state(info.channel_state).value,
        "callerIdNum": info.caller_id_num,
        "callerIdName": info.caller_id_name,
        "connectedLineNum": info.connected_line_num,
        "connectedLineName": info.connected_line_name,
        "context": info.context,
        "exten": info.exten,
    }


def refresh(info: ChannelInfo | None, **extra: Any) -> list[Change]:
    """Update a known channel from a snapshot another event carries (never creates one)."""
    if info is None:
        return []
    return [Patch("channel", info.channel, {**channel_fields(info), **extra}, create=False)]


@register(Newchannel)
def reduce_newchannel(event: Newchannel, now: int) -> list[Change]:
    """A new channel: everything its snapshot says, and when it was created."""
    info = event.channel
    return [Patch("channel", info.channel, {**channel_fields(info), "createdAt": now})]


@register(Newstate)
def reduce_newstate(event: Newstate, now: int) -> list[Change]:
    """A state change; reaching Up stamps `answeredAt`."""
    extra: dict[str, Any] = {}
    if channel_state(event.channel.channel_state) is ChannelState.UP:
        extra["answeredAt"] = now
    return refresh(event.channel, **extra)


@register(NewCallerid)
def reduce_new_callerid(event: NewCallerid, now: int) -> list[Change]:
    """The caller id changed."""
    return refresh(event.channel)


@register(NewConnectedLine)
def reduce_new_connected_line(event: NewConnectedLine, now: int) -> list[Change]:
    """The connected line (the other party) changed."""
    return refresh(event.channel)


@register(Hangup)
def reduce_hangup(event: Hangup, now: int) -> list[Change]:
    """The channel is gone."""
    return [delete("channel", event.channel.channel)]
