"""The reducer: pure functions from domain events to patches.

No Redis, no await, no clock: `now` (ms epoch) is passed in. Dispatch goes
through a table keyed by event type; an event type without a handler changes
nothing. Importing this package registers every handler:

- `members`: the member events and the realtime pause device → operators
- `callers`: callers joining, leaving and abandoning → queues
- `agents`: members handling a caller → operators, queue counters, channels
- `channels`: channel lifecycle → channels
- `system`: FullyBooted, Reload, Shutdown (no change; the connection reconciles)
- `manual`: a status set by a person (REST, GraphQL)
"""

from ingest.reducer import agents as agents
from ingest.reducer import callers as callers
from ingest.reducer import channels as channels
from ingest.reducer import manual as manual
from ingest.reducer import members as members
from ingest.reducer import system as system
from ingest.reducer.dispatch import reduce, register

__all__ = ["agents", "callers", "channels", "manual", "members", "reduce", "register", "system"]
