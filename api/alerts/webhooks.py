"""Alert webhooks: POST JSON (with a Slack-compatible `text`), retried with backoff.

`submit()` never blocks and never raises: a delivery per URL goes into a
bounded queue (ALERT_WEBHOOK_QUEUE); when it is full the delivery is dropped and
counted. A few worker tasks send them. A network error, a timeout, a 429 or a
5xx is retried after `backoff`, `2 × backoff`, … (capped at 60 s) up to
ALERT_WEBHOOK_ATTEMPTS attempts in all; a retry waits on a timer, not in a
worker, so one dead receiver never holds up the others. Another 4xx is a
refusal: not retried. Logs name a URL by scheme and host only
(`api.alerts.rules.redacted_url`): its path, query or user info may be the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

from api.alerts.evaluator import AlertEvent
from api.alerts.metrics import AlertMetrics
from api.alerts.rules import redacted_url
from ingest.logs import get_logger
from ingest.tasks import cancel_and_wait

log = get_logger("AlertWebhooks")

BACKOFF_CAP = 60.0
WORKERS = 4
# Set while a worker posts: httpx logs every request with its whole URL at INFO.
_posting: ContextVar[bool] = ContextVar("alert_webhook_posting", default=False)


class _HideWebhookRequests(logging.Filter):
    """Drops httpx's own "HTTP Request: POST <url>" line for our posts (the URL may be
    the secret); other httpx users keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _posting.get()


def _hide_webhook_requests() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _HideWebhookRequests) for f in httpx_log.filters):
        httpx_log.addFilter(_HideWebhookRequests())


@dataclass(slots=True)
class Delivery:
    """One event to one URL, and how many attempts it has had."""

    url: str
    body: dict[str, Any]
    attempts: int = 0


@dataclass(slots=True)
class WebhookCounts:
    """Deliveries by final outcome since start (/healthz; /metrics counts them too)."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0


def webhook_body(event: AlertEvent) -> dict[str, Any]:
    """What a receiver gets: Slack's `text`, and the alert's fields under `alert`."""
    return {"text": event.text, "alert": event.as_json()}


class WebhookSender:
    """The bounded queue of deliveries and the workers that send them."""

    def __init__(
        self,
        urls: Sequence[str],
        metrics: AlertMetrics,
        *,
        attempts: int = 5,
        backoff: float = 1.0,
        timeout: float = 5.0,
        capacity: int = 1000,
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._urls = tuple(urls)
        self._metrics = metrics
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._timeout = timeout
        self._capacity = max(1, capacity)
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._waiting_retries: set[asyncio.TimerHandle] = set()
        self._client_factory = client_factory or self._default_client
        self._client: httpx.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.counts = WebhookCounts()
        metrics.webhooks_waiting.set_function(lambda: self.pending)

    def _default_client(self) -> httpx.AsyncClient:
        # No redirects: a receiver that redirects is misconfigured, and following one
        # could carry the body somewhere else.
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    @property
    def pending(self) -> int:
        """Deliveries queued or waiting for a retry."""
        return self._queue.qsize() + len(self._waiting_retries)

    def submit(self, event: AlertEvent) -> None:
        """Queue `event` for ALERT_WEBHOOK_URLS and its rule's own URL; never blocks."""
        urls = list(self._urls)
        if event.rule.webhook_url and event.rule.webhook_url not in urls:
            urls.append(event.rule.webhook_url)
        if not urls:
            return
        body = webhook_body(event)
        for url in urls:
            self._enqueue(Delivery(url, body))

    def _enqueue(self, delivery: Delivery) -> None:
        if self.pending >= self._capacity:
            self._metrics.webhooks.labels(outcome="dropped").inc()
            self.counts.dropped += 1
            log.warning(
                "Alert webhook to %s dropped: %d deliveries already waiting",
                redacted_url(delivery.url),
                self.pending,
            )
            return
        self._queue.put_nowait(delivery)

    def start(self) -> None:
        """Start the workers (idempotent)."""
        if self._workers:
            return
        _hide_webhook_requests()
        self._client = self._client_factory()
        self._workers = [
            asyncio.create_task(self._work(), name=f"alert-webhook-{n}") for n in range(WORKERS)
        ]

    async def stop(self) -> None:
        """Stop the workers; what is still queued is dropped (alerts are about now)."""
        for handle in self._waiting_retries:
            handle.cancel()
        self._waiting_retries.clear()
        await cancel_and_wait(*self._workers)
        self._workers = []
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._attempt(delivery)
            except Exception:  # a bug must not stop the worker
                log.exception("Alert webhook delivery failed unexpectedly")

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._client is not None
        delivery.attempts += 1
        where = redacted_url(delivery.url)
        marked = _posting.set(True)
        try:
            response = await self._client.post(delivery.url, json=delivery.body)
            status = response.status_code
            problem = None if status < 300 else f"HTTP {status}"
            retryable = status == 429 or status >= 500
        except httpx.HTTPError as exc:
            problem, retryable = type(exc).__name__, True
        finally:
            _posting.reset(marked)
        if problem is None:
            self._metrics.webhooks.labels(outcome="delivered").inc()
            self.counts.delivered += 1
            return
        if retryable and delivery.attempts < self._attempts:
            delay = min(self._backoff * 2 ** (delivery.attempts - 1), BACKOFF_CAP)
            self._metrics.webhooks.labels(outcome="retried").inc()
            log.info(
                "Alert webhook to %s failed (%s, attempt %d of %d); retrying in %.1f s",
                where,
                problem,
                delivery.attempts,
                self._attempts,
                delay,
            )
            self._retry_later(delivery, delay)
            return
        self._metrics.webhooks.labels(outcome="failed").inc()
        self.counts.failed += 1
        log.warning(
            "Alert webhook to %s failed (%s) after %d attempt(s); given up",
            where,
            problem,
            delivery.attempts,
        )

    def _retry_later(self, delivery: Delivery, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def requeue() -> None:
            self._waiting_retries.discard(handle)
            self._queue.put_nowait(delivery)  # it was counted in `pending` all along

        handle = loop.call_later(delay, requeue)
        self._waiting_retries.add(handle)
