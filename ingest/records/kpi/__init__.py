"""KPIs computed from the durable call records and agent intervals (never from Asterisk's
resettable counters): per queue (`queue_stats`), per member (`agent_stats`), and the list
of calls supervisors page through (`call_list`). Ranges and buckets: `periods`."""
