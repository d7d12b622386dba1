"""The benchmark suite: `make bench` (see README, "Performance").

Every figure is measured against real Redis, PostgreSQL and a real uvicorn
server, with the load generated from other processes, and reported as a ratio
to a ceiling measured on the same machine in the same run.
"""
