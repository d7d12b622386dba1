"""/healthz's `alerts` section: the rules held, what fires, the last evaluation and the
webhooks, the same figures as /metrics; rules the database cannot give make the service
degraded, never down, and it heals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from api.alerts.health import AlertHealth
from api.health import add_alerts
from tests.api.conftest import AppFactory
from tests.support.proxy import FaultProxy

RULES = "/api/queue-status/alerts/rules"


async def _section(client: Any) -> dict[str, Any]:
    answer = await client.get("/healthz")
    body = answer.json()
    section: dict[str, Any] = body["data"]["alerts"]
    section["_status"] = body["data"]["status"]
    section["_code"] = answer.status_code
    return section


async def _wait(client: Any, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            section = await _section(client)
            if check(section):
                return section
            await asyncio.sleep(0.05)


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_healthz_shows_rules_alerts_and_webhooks_as_metrics_do(
    live_app: AppFactory,
) -> None:
    async with live_app(alert_evaluate_interval=0.2) as app:
        before = await _wait(app.client, lambda s: s["rulesLoaded"])
        assert (before["rules"], before["active"], before["status"]) == (0, 0, "ok")
        # Every runbook queue has fewer than 10 operators available: one alert per queue.
        created = await app.client.post(
            RULES,
            json={"name": "Staffing", "kind": "available_operators", "threshold": 10},
        )
        assert created.status_code == 201, created.text
        section = await _wait(app.client, lambda s: s["active"] == 3)
        assert section["rules"] == 1 and section["rulesDatabaseUp"] is True
        assert section["lastEvaluationAt"] is not None and section["rulesReadAt"] is not None
        assert section["webhooks"] == {"waiting": 0, "delivered": 0, "failed": 0, "dropped": 0}
        assert (section["status"], section["lastError"], section["_status"]) == ("ok", None, "ok")
        alerts = (await app.client.get("/api/queue-status/alerts")).json()
        assert alerts["count"] == 3
        metrics = (await app.client.get("/metrics")).text
        assert _sample(metrics, "queue_status_alert_rules") == 1
        assert _sample(metrics, "queue_status_alerts_active") == 3
        assert _sample(metrics, "queue_status_alert_webhooks_waiting") == 0
        evaluated = _sample(metrics, "queue_status_alert_last_evaluation_timestamp_seconds")
        assert evaluated >= section["lastEvaluationAt"] / 1000


async def test_unreadable_rules_degrade_the_service_not_down_and_heal(
    live_app: AppFactory, runbook_db: str
) -> None:
    proxy = FaultProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        proxy.refuse()
        url = runbook_db.replace(":5432/", f":{proxy.port}/")
        async with live_app(database_url=url, alert_evaluate_interval=0.2) as app:
            down = await _wait(app.client, lambda s: s["rulesDatabaseUp"] is False)
            assert (down["status"], down["_status"], down["_code"]) == ("degraded", "degraded", 200)
            assert down["rulesLoaded"] is False and down["lastEvaluationAt"] is None
            assert "database is unavailable" in down["lastError"]
            for secret in ("127.0.0.1", str(proxy.port), "postgres"):
                assert secret not in down["lastError"]

            proxy.restore()
            up = await _wait(app.client, lambda s: s["rulesDatabaseUp"] is True)
            assert (up["status"], up["rulesLoaded"], up["lastError"]) == ("ok", True, None)
    finally:
        await proxy.stop()


def _health(rules_error: str | None) -> AlertHealth:
    return AlertHealth(
        rules=2,
        rules_loaded=True,
        rules_read_at=1,
        rules_error=rules_error,
        active=1,
        evaluated_at=2,
        webhooks_waiting=0,
        webhooks_delivered=0,
        webhooks_failed=0,
        webhooks_dropped=0,
        last_error=rules_error,
    )


def test_rules_unreadable_make_ok_degraded_and_leave_down_down() -> None:
    for overall, error, expected in (
        ("ok", None, "ok"),
        ("ok", "cannot read the alert rules", "degraded"),
        ("degraded", None, "degraded"),
        ("down", "cannot read the alert rules", "down"),
    ):
        details: dict[str, Any] = {"status": overall}
        add_alerts(details, _health(error))
        assert details["status"] == expected, (overall, error)
        assert details["alerts"]["rulesDatabaseUp"] is (error is None)
