"""Alembic scripts for the realtime tables (a package so that they are installed)."""
