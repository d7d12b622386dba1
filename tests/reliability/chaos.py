"""The suite's fault proxy: the shared `FaultProxy` plus a reset at a chosen byte and a wire tap.

`FaultProxy` (tests/support/proxy.py) passes, blackholes, refuses, resets and
delays, and counts the connections it accepted.
`ChaosProxy` adds what the reliability items need on top:

- `cut_after(n)`: deliver `n` more bytes towards the client, then reset every
  connection — a reset at an arbitrary point, usually in the middle of a message;
- `sent`: every byte clients sent upstream (what the service wrote on the AMI
  wire, for the CR/LF injection item);
"""

from __future__ import annotations

from tests.support.proxy import FaultProxy


class ChaosProxy(FaultProxy):
    """`FaultProxy` with a byte-exact reset and a record of the client's bytes."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__(upstream_host, upstream_port)
        self.sent = bytearray()
        self.delivered = 0
        self._cut_at: int | None = None

    def cut_after(self, n: int) -> None:
        """Reset every connection once `n` more bytes went towards the clients."""
        self._cut_at = self.delivered + n

    def _passing(self, data: bytes, *, downstream: bool) -> tuple[bytes, bool]:
        if not downstream:
            self.sent += data
            return data, False
        if self._cut_at is not None and self.delivered + len(data) >= self._cut_at:
            keep = self._cut_at - self.delivered
            self._cut_at = None
            self.delivered += keep
            return data[:keep], True
        self.delivered += len(data)
        return data, False
