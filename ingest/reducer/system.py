"""Asterisk's own life: FullyBooted, Reload, Shutdown.

They change no entity by themselves. What they mean — a restart (Uptime went
down), a reload of queue configuration, a shutdown — is answered by a new
snapshot from Asterisk, which the AMI connection takes and reconciles
(`ingest.reconcile`). Registered explicitly so that "ignored" is a decision
written down, not an accident of the table.
"""

from __future__ import annotations

from ingest.ami.events import FullyBooted, Reload, Shutdown
from ingest.patches import Change
from ingest.reducer.dispatch import register


@register(FullyBooted)
def reduce_fully_booted(event: FullyBooted, now: int) -> list[Change]:
    """Every login sends it; the connection reconciles after each login anyway."""
    return []


@register(Reload)
def reduce_reload(event: Reload, now: int) -> list[Change]:
    """Queue configuration may have changed: the connection takes a new snapshot."""
    return []


@register(Shutdown)
def reduce_shutdown(event: Shutdown, now: int) -> list[Change]:
    """Calls end with Asterisk; the snapshot after it comes back removes them."""
    return []
