"""Listening in: ``Originate`` of a supervisor's phone into ``ChanSpy``.

A supervisor console sends ``Action: Originate`` with ``Channel: PJSIP/1009`` (or a
``Local/…`` channel), ``Application: ChanSpy`` and ``Data: <channel>,<options>``
(``q`` quiet, ``w`` whisper, ``B`` barge). Asterisk calls the phone; once it
answers, the async Originate's ``OriginateResponse`` goes out and ChanSpy looks
for a channel whose name starts with the given one (app_chanspy's prefix
match, any case). Found: ``ChanSpyStart`` (the ``Spyer*`` then ``Spyee*``
channel snapshots, class call). When the spied channel hangs up:
``ChanSpyStop``, and the supervisor's leg hangs up. Nothing found: no
ChanSpyStart, the leg just hangs up.

The supervisor's phone answers at once and need not be part of the centre:
any ``Tech/resource`` is accepted. ``Hangup`` of the spy leg is answered at
once, but, as seen on Asterisk 22.10.1, its ``ChanSpyStop`` only comes when the
spied call ends. Real ChanSpy without the ``E`` option would keep the leg up
and scan for another channel with that prefix; the simulator ends it instead.

What a console sees for ``Channel: PJSIP/1009``: the response, then
``Newchannel`` (Down), ``NewCallerid`` (when a CallerID was given),
``Newstate`` (Up), ``OriginateResponse``, ``ChanSpyStart``; at the call's end
``ChanSpyStop``, the spied channel's ``Hangup``, the spy leg's ``Hangup``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from simulator import events
from simulator.errors import InvalidArgument, NoSuchChannel, NotSimulated
from simulator.records import ChannelRecord
from simulator.state import CentreState

_MODES = (("B", "barge"), ("w", "whisper"))


@dataclass(eq=False)
class SpyRecord:
    """One ChanSpy: the supervisor's leg listening to one channel."""

    spyer: ChannelRecord
    """The leg running ChanSpy (``PJSIP/1009-…``, or ``…;1`` of a Local pair)."""
    partner: ChannelRecord | None
    """The ``…;2`` half of a Local spy pair (it rings the supervisor's phone)."""
    spyee: ChannelRecord
    options: str
    spyer_up: bool = True

    @property
    def mode(self) -> str:
        """``listen``, ``whisper`` (``w``) or ``barge`` (``B``)."""
        return next((mode for flag, mode in _MODES if flag in self.options), "listen")


class Spies:
    """The supervisors listening in on one centre's calls."""

    def __init__(self, state: CentreState) -> None:
        self._state = state
        self._legs = itertools.count()
        self._active: list[SpyRecord] = []
        self._legs_by_name: dict[str, tuple[ChannelRecord, ChannelRecord | None]] = {}
        state.hangup_hooks.append(self._channel_gone)

    def originate(
        self,
        channel: str,
        data: str,
        *,
        caller_num: str | None = None,
        caller_name: str | None = None,
        action_id: str | None = None,
        respond: bool = True,
    ) -> str:
        """Call ``channel`` and run ``ChanSpy(data)`` on it; returns the spy leg's name.

        ``respond``: send the async Originate's OriginateResponse (with
        ``action_id``) once the phone answered.
        """
        tech, _, resource = channel.partition("/")
        if not tech or not resource:
            raise InvalidArgument(channel)
        spyer, partner = self._dial(tech, resource, caller_num, caller_name)
        spyer.application, spyer.app_data = "ChanSpy", data
        if respond:
            event = events.originate_response(
                action_id, spyer, "ChanSpy", data, caller_num, caller_name
            )
            self._state.emit(event)
        spec, _, options = data.partition(",")
        spyee = self._find(spec.strip(), options)
        if spyee is None:
            self._hang_up_leg(spyer, partner)
            return spyer.name
        self._active.append(SpyRecord(spyer, partner, spyee, options.strip()))
        self._state.emit(events.spy_event("ChanSpyStart", spyer, spyee))
        return spyer.name

    def hangup(self, channel: str) -> None:
        """``Hangup`` of a spy leg: it goes now, its ChanSpyStop when the spied call ends.

        :class:`NoSuchChannel` when no live channel has that name,
        :class:`NotSimulated` for the channels of a queue call.
        """
        legs = self._legs_by_name.get(channel)
        if legs is None:
            if channel in self._state.channels:
                raise NotSimulated(channel)
            raise NoSuchChannel(channel)
        spyer, partner = legs
        for spy in self._active:
            if spy.spyer is spyer:
                spy.spyer_up = False
        self._hang_up_leg(spyer, partner)

    def active(self) -> list[dict[str, str | bool]]:
        """The spies whose ChanSpyStop has not gone out yet, oldest first."""
        return [
            {
                "spyer": spy.spyer.name,
                "spyer_uniqueid": spy.spyer.uniqueid,
                "spyee": spy.spyee.name,
                "spyee_uniqueid": spy.spyee.uniqueid,
                "options": spy.options,
                "mode": spy.mode,
                "spyer_up": spy.spyer_up,
            }
            for spy in self._active
        ]

    # -- internals ------------------------------------------------------------------

    def _dial(
        self, tech: str, resource: str, caller_num: str | None, caller_name: str | None
    ) -> tuple[ChannelRecord, ChannelRecord | None]:
        """The supervisor's channel, announced, answered; with its Local partner if any."""
        state = self._state
        partner: ChannelRecord | None = None
        if tech.lower() == "local":
            exten, _, context = resource.removesuffix("/n").partition("@")
            spyer, partner = state.new_pair(exten, context or "default", None)
        else:
            uid = state.new_uniqueid()
            name = f"{tech}/{resource}-{next(self._legs):08x}"
            spyer = ChannelRecord(name, uid, uid, "default", "s", 0, state.clock.now)
            state.channels[name] = spyer
            state.emit(events.channel_event("Newchannel", spyer))
        legs = [ch for ch in (spyer, partner) if ch is not None]
        for ch in legs:
            self._legs_by_name[ch.name] = (spyer, partner)
            if caller_num is None and caller_name is None:
                continue
            # __ast_request_and_dial: the Originate's CallerID is both ids of the new channel.
            ch.cid_num = ch.con_num = caller_num or "<unknown>"
            ch.cid_name = ch.con_name = caller_name or "<unknown>"
            event = events.channel_event("NewCallerid", ch)
            event["CID-CallingPres"] = "0 (Presentation Allowed, Not Screened)"
            state.emit(event)
        for ch in reversed(legs):
            state.set_state(ch, 6)
        return spyer, partner

    def _find(self, spec: str, options: str) -> ChannelRecord | None:
        """The first live channel ChanSpy would pick for ``spec`` (a name prefix)."""
        prefix = "" if spec.lower() == "all" else spec.lower()
        for ch in self._state.channels.values():
            if ch.name in self._legs_by_name or not ch.name.lower().startswith(prefix):
                continue
            if "b" in options and not ch.bridge:
                continue  # ChanSpy's b: only channels in a bridge
            return ch
        return None

    def _hang_up_leg(self, spyer: ChannelRecord, partner: ChannelRecord | None) -> None:
        for ch in (spyer, partner):
            if ch is not None:
                self._legs_by_name.pop(ch.name, None)
                self._state.hangup(ch, 16)

    def _channel_gone(self, ch: ChannelRecord) -> None:
        """A channel is hanging up: the spies on it stop (ChanSpyStop), their legs follow."""
        ending = [spy for spy in self._active if spy.spyee is ch]
        if not ending:
            return
        self._active = [spy for spy in self._active if spy.spyee is not ch]
        for spy in ending:
            self._state.emit(events.spy_event("ChanSpyStop", spy.spyer, spy.spyee))
            if spy.spyer_up:
                # After the spied channel's own Hangup, as ChanSpy notices it.
                hang_up = functools.partial(self._hang_up_leg, spy.spyer, spy.partner)
                self._state.clock.after(0, hang_up)
