"""ActionIDs of this process: never equal to another manager session's.

Asterisk sends every session the events of every other one it may read, and
some carry the ActionID their own session chose (``OriginateResponse`` of an
``Originate`` sent by a dialler or a CRM). panoramisk's ``action/<uuid>/1/N``
differs between processes too, but any client may pick short ids such as
``1`` or reset that generator: our ids carry a random token drawn once per
process, so a foreign id cannot name one of our actions.
"""

from __future__ import annotations

import itertools
import secrets

PROCESS_TOKEN = secrets.token_hex(8)
_PREFIX = f"qs-{PROCESS_TOKEN}-"
_numbers = itertools.count(1)


def new_action_id(purpose: str = "action") -> str:
    """A fresh ActionID of ours, e.g. ``qs-<token>-snapshot-7``."""
    return f"{_PREFIX}{purpose}-{next(_numbers)}"


def is_ours(action_id: str) -> bool:
    """Whether this process made `action_id`."""
    return action_id.startswith(_PREFIX)
