"""Subscription streams: the first state, then the changes, with gap handling.

`follow()` joins the broadcaster, takes the first state from the live mirror
(consistent: nothing awaits between joining and reading), then turns each
broadcast batch into one message through a selector (`api.graphql.selectors`).
It is the path of a subscription served on its own (the fan-out serves the
groupable ones, `api.graphql.fanout`).

A reset (pub/sub reconnect, version gap, clear) re-sends the whole current
state as RESYNC. A subscriber that falls behind is ended by the broadcaster
(`SubscriberOverflow`), which surfaces as the subscription's last error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TypeVar

from api.graphql.enums import UpdateKind
from api.graphql.selectors import Selector, UpdateHeader
from api.live import LiveBroadcaster, LiveReset, LiveState

U = TypeVar("U")


async def follow(
    broadcaster: LiveBroadcaster,
    live: LiveState,
    selector: Selector[U],
    *,
    initial: bool = True,
) -> AsyncGenerator[U, None]:
    """Yield the first state (when `initial`), then every matching change, in order."""
    async with broadcaster.subscribe() as subscriber:
        at: int | None = None  # the version the client's state is at
        sent = 0  # the toVersion of the last message sent
        if live.loaded:
            at = sent = live.version
            if initial:
                yield selector.state(live, UpdateHeader(UpdateKind.INITIAL, 0, at))
        async for event in subscriber:
            if isinstance(event, LiveReset):
                now = live.version
                if at is None:  # the mirror's first load: this is the first state
                    at = sent = now
                    if initial:
                        yield selector.state(live, UpdateHeader(UpdateKind.INITIAL, 0, now))
                    continue
                header = UpdateHeader(UpdateKind.RESYNC, sent, now, event.reason)
                at = sent = now
                yield selector.state(live, header)
                continue
            if at is None or event.to_version <= at:
                continue  # already part of the state this subscriber sent
            if event.from_version != at:  # pragma: no cover - the broadcaster reloads first
                header = UpdateHeader(UpdateKind.RESYNC, sent, live.version, "missed changes")
                at = sent = live.version
                yield selector.state(live, header)
                continue
            at = event.to_version
            update = selector.delta(event, UpdateHeader(UpdateKind.CHANGES, sent, at))
            if update is not None:
                sent = at
                yield update
