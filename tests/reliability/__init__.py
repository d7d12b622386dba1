"""The reliability suite (issue #7): faults, abuse, fuzzing, load and a soak.

Fast items run in `make test`; the slow ones carry the `slow` marker
and run (with their timing goals asserted) in `make reliability`.
"""
