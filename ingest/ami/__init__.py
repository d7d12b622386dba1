"""The AMI wire layer: bytes -> framed messages -> typed events, and safe actions.

- `framing`: `AmiFramer`, the linear, size-capped stream framer.
- `protocol`: `SafeAMIProtocol` for ``panoramisk.Manager(protocol_factory=...)``.
- `events`: the frozen event dataclasses; `parser`: `parse` and `EventParser`.
- `redact`: `SecretRedactor` / `install_redaction`, secrets out of logs.
"""

from ingest.ami.events import AmiEvent, ChannelInfo, MemberInfo
from ingest.ami.framing import AmiFramer, Frame, FramerStats
from ingest.ami.parser import EventParser, MalformedEvent, parse
from ingest.ami.protocol import ActionNotSent, ProtocolStats, SafeAMIProtocol, UnsafeActionValue
from ingest.ami.redact import SecretRedactor, install_redaction

__all__ = [
    "ActionNotSent",
    "AmiEvent",
    "AmiFramer",
    "ChannelInfo",
    "EventParser",
    "Frame",
    "FramerStats",
    "MalformedEvent",
    "MemberInfo",
    "ProtocolStats",
    "SafeAMIProtocol",
    "SecretRedactor",
    "UnsafeActionValue",
    "install_redaction",
    "parse",
]
