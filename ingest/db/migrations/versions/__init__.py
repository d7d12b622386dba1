"""Alembic revisions (a package so that they are installed; Alembic skips this file)."""
