"""Alerts over the simulator: a rule fires and resolves, seen on the `alerts` subscription
and by a webhook receiver that refuses the first attempts (the sender retries)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from gql import gql

from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.api.conftest import AppFactory
from tests.api.console.conftest import Lab, running_lab, ws_session
from tests.support.ami import SECRET
from tests.support.webhook_receiver import webhook_receiver

RULES = "/api/queue-status/alerts/rules"
SUBSCRIPTION = gql(
    """
    subscription { alerts { state subject subjectType queue value threshold since at text
                            rule { id name } } }
    """
)


async def _collect(lab: Lab, into: list[dict[str, Any]], subscribed: asyncio.Event) -> None:
    async with ws_session(lab, "graphql-transport-ws", "viewer") as session:
        stream = session.subscribe(SUBSCRIPTION)
        subscribed.set()
        async for result in stream:
            into.append(result["alerts"])


async def _wait(events: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(20):
        while len(events) < count:
            await asyncio.sleep(0.02)
    return events


async def test_a_rule_fires_and_resolves_on_the_subscription_and_the_webhook(
    live_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sim = AmiSimulator(secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=3), realtime=False)
    async with (
        webhook_receiver(failures=2) as receiver,
        running_lab(
            live_app,
            sim,
            alert_webhook_urls=receiver.url,
            alert_webhook_backoff=0.05,
            alert_evaluate_interval=1,
        ) as lab,
    ):
        events: list[dict[str, Any]] = []
        subscribed = asyncio.Event()
        collector = asyncio.create_task(_collect(lab, events, subscribed))
        try:
            await asyncio.wait_for(subscribed.wait(), 10)
            created = await lab.app.client.post(
                RULES,
                json={
                    "name": "Billing queue",
                    "kind": "callers_waiting",
                    "threshold": 0,
                    "queue": "billing",
                    "clearSeconds": 0,
                },
                headers=lab.auth("admin"),
            )
            assert created.status_code == 201, created.text
            # Billing has no members: the caller waits, then hangs up after 3 s.
            await asyncio.sleep(0.5)  # the engine has loaded the rule
            lab.sim.model.originate("billing", caller_num="5550177", patience=3)
            lab.sim.advance(1.0)
            fired = (await _wait(events, 1))[0]
            for _ in range(4):
                lab.sim.advance(1.0)
                await asyncio.sleep(0.05)
            resolved = (await _wait(events, 2))[1]
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
        bodies = await receiver.wait_for(2)

    assert (fired["state"], fired["subject"], fired["subjectType"], fired["value"]) == (
        "FIRING",
        "billing",
        "QUEUE",
        1.0,
    )
    assert (resolved["state"], resolved["subject"], resolved["value"]) == (
        "RESOLVED",
        "billing",
        0.0,
    )
    assert resolved["since"] == fired["since"] <= resolved["at"]
    assert fired["rule"]["name"] == "Billing queue" and fired["threshold"] == 0.0
    # The webhook: two refusals, then both events, each with Slack's `text`.
    assert receiver.attempts >= 4
    assert [(b["alert"]["state"], b["alert"]["subject"]) for b in bodies] == [
        ("firing", "billing"),
        ("resolved", "billing"),
    ]
    assert bodies[0]["text"].startswith("[FIRING] Billing queue: queue billing")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "retrying" in logged
    assert "secret-path" not in logged and "hook-secret" not in logged
