"""Ingest: the owner of live state.

Turns Asterisk's AMI stream and the realtime configuration tables into the
live operator / queue / channel picture kept in Redis. `api` builds on this
package; this package never imports `api`.
"""
