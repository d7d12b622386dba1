"""The AMI wire layer: bytes -> framed messages -> typed events, and safe actions.

- `message`: `AmiMessage`, the one type of a raw AMI message (no dependencies).
- `framing`: `AmiFramer`, the linear, size-capped stream framer.
- `protocol`: `SafeAMIProtocol` for ``panoramisk.Manager(protocol_factory=...)``.
- `connection`: `AmiConnection`, login, reconnects and keep-alive pings.
- `events`: the frozen event dataclasses; `fields`: typed access to a message's
  fields; `parser`: `parse` and `EventParser`.
- `sources`: the list actions a snapshot asks and what each answered.
- `redact`: `SecretRedactor` / `install_redaction`, secrets out of logs.

Import from the modules: this package imports none of them, so `message`
loads without panoramisk.
"""
