"""The reducer: pure functions from domain events to patches.

No Redis, no await, no clock: `now` (ms epoch) is passed in. Dispatch goes
through a table keyed by event type; an event type without a handler changes
nothing. Importing this package registers every handler.
"""

from ingest.reducer import manual as manual
from ingest.reducer.dispatch import reduce, register

__all__ = ["manual", "reduce", "register"]
