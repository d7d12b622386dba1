"""The realtime tables Asterisk reads (``queues``, ``queue_members``): models, engine,
migrations, the read side for the DB → Redis sync, and the demo seed.

Modules: ``models`` (the tables), ``engine`` (async engines, URL redaction, the
error type), ``repository`` (rows → frozen configs), ``migrate`` (Alembic,
create-where-missing), ``seed`` (the demo call centre).
"""
