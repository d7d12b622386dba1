"""Actions on Asterisk: what a supervisor asks, checked, sent over AMI, confirmed by events.

- :mod:`~ingest.actions.values` — every value checked before it goes on the wire;
- :mod:`~ingest.actions.requests` — the actions (QueuePause, QueueAdd, …) and the
  events that confirm each;
- :mod:`~ingest.actions.verdicts` — Asterisk's refusals, sorted into kinds;
- :mod:`~ingest.actions.waiters` — futures resolved when a confirming event is applied;
- :mod:`~ingest.actions.realtime` — members of Asterisk's realtime table, edited as rows;
- :mod:`~ingest.actions.console` — runs one action end to end.

The live state changes only through Asterisk's events: nothing here writes an
action's intent into Redis.
"""
