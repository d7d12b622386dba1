"""REST load with a history: every request's time, path, status and Retry-After, kept.

`RestLoad` runs a few workers looping over the read endpoints (and, when asked,
the runbook's POST) as fast as the server answers; the test injects faults
meanwhile and then checks the history: what was answered while the fault was
on, and whether anything but a 2xx/404 or a 503 with Retry-After ever came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

BASE = "/api/queue-status"
READS = (
    f"{BASE}/operators",
    f"{BASE}/queues",
    f"{BASE}/snapshot",
    f"{BASE}/channels",
    f"{BASE}/sync/status",
    f"{BASE}/queues/sales",
    f"{BASE}/operators/{quote('Local/1001@agents/n', safe='')}",
    "/healthz",
)


@dataclass(frozen=True, slots=True)
class Answer:
    """One request: when it started and ended (perf_counter), what it got."""

    started: float
    ended: float
    method: str
    path: str
    status: int  # 0: no HTTP answer at all (connection error, timeout)
    retry_after: str | None
    error: str | None = None


@dataclass
class RestLoad:
    """Workers hitting the API until stopped; the history of every answer."""

    url: str
    workers: int = 8
    writes: bool = True
    history: list[Answer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: bool = False

    async def __aenter__(self) -> RestLoad:
        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(15.0),
            limits=httpx.Limits(max_connections=self.workers * 2),
        )
        self._tasks = [asyncio.create_task(self._work(n)) for n in range(self.workers)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=30)
        await self._client.aclose()

    async def _work(self, n: int) -> None:
        i = n
        while not self._stop:
            i += 1
            if self.writes and i % 10 == 0:
                method, path = "POST", f"{BASE}/operators"
                body: dict[str, object] | None = {"memberId": "Local/9999@load/n", "status": "idle"}
            else:
                method, path, body = "GET", READS[i % len(READS)], None
            started = time.perf_counter()
            try:
                response = await self._client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                self.history.append(
                    Answer(started, time.perf_counter(), method, path, 0, None, type(exc).__name__)
                )
                await asyncio.sleep(0.05)
                continue
            self.history.append(
                Answer(
                    started,
                    time.perf_counter(),
                    method,
                    path,
                    response.status_code,
                    response.headers.get("Retry-After"),
                )
            )

    def between(self, start: float, end: float) -> list[Answer]:
        """Answers to requests made entirely within [start, end]."""
        return [a for a in self.history if a.started >= start and a.ended <= end]

    def statuses(self) -> Counter[int]:
        """How many answers of each status."""
        return Counter(a.status for a in self.history)

    def bad(self) -> list[Answer]:
        """Answers that are never acceptable: no answer, a 5xx other than 503, or a 503
        without Retry-After."""
        return [
            a
            for a in self.history
            if a.status == 0
            or (a.status >= 500 and a.status != 503)
            or (a.status == 503 and not a.retry_after)
        ]
