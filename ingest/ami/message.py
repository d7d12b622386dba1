"""One AMI message, the one name every layer uses for it.

Header name (as on the wire) to its value, or to every value of a repeated
header, in order. Plain standard library, and `ingest.ami` imports nothing on
its own: `ingest.traces` and the AMI simulator use these names without
loading the AMI client (panoramisk).
"""

from __future__ import annotations

from collections.abc import Mapping

AmiMessage = Mapping[str, str | list[str]]
"""An AMI message as read: a `Frame`'s headers, a panoramisk ``Message``, a trace line."""

AmiMessageDict = dict[str, str | list[str]]
"""An AMI message being built (the framer, the trace loader): a plain dict, in wire order."""
