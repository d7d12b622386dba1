"""Rule administration and alert reads for a grant: the one path REST and GraphQL share.

A token scoped to some queues (API_TOKENS) sees and sets only rules of its
queues, never an every-queue rule (that one watches queues it does not see),
and sees only the alerts of its queues. A rule it may not see is "not found".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.alerts.engine import AlertEngine
from api.alerts.evaluator import AlertEvent
from api.alerts.rules import AlertRule, InvalidRule, RuleSpec, validate
from api.alerts.store import RuleStore
from api.auth import Grant
from api.errors import Forbidden, NotFound, Unavailable


class AlertAdmin:
    """CRUD on rules (reloading the engine after a change) and the active alerts."""

    def __init__(
        self, store: RuleStore, engine: AlertEngine | None, *, pbx: str | None = None
    ) -> None:
        self._store = store
        self._engine = engine
        self._pbx = pbx
        """The request's PBX with PBXES (its rules and every-PBX ones are seen); None: the
        one PBX (every rule)."""

    async def rules(self, grant: Grant) -> list[AlertRule]:
        """Every rule the grant sees on the request's PBX, by id."""
        return [rule for rule in await self._store.list() if self._sees(grant, rule)]

    async def set_rule(self, grant: Grant, rule_id: int | None, spec: RuleSpec) -> AlertRule:
        """Create (`rule_id` None) or replace a rule; InvalidRule, NotFound, Forbidden."""
        valid = validate(spec)
        if valid.pbx is not None and valid.pbx != self._pbx:
            raise InvalidRule(
                "pbx: the request's PBX (?pbx= / the pbx argument), or null for every PBX"
                if self._pbx is not None
                else "pbx: this server has one PBX (PBXES is not set); leave it null"
            )
        if valid.pbx is None and not grant.every_pbx:
            raise Forbidden("a token scoped to some PBXes cannot set an every-PBX rule")
        if grant.queues is not None:
            if valid.queue is None:
                raise Forbidden("a token scoped to some queues cannot set an every-queue rule")
            if not grant.sees_queue(valid.queue):
                raise Forbidden(f"queue {valid.queue!r} is outside your token's queues")
        if rule_id is None:
            rule = await self._store.create(valid)
        else:
            await self._visible(grant, rule_id)
            rule = await self._store.update(rule_id, valid)
        self._changed()
        return rule

    async def delete_rule(self, grant: Grant, rule_id: int) -> AlertRule:
        """Remove a rule; NotFound when there is none the grant sees."""
        await self._visible(grant, rule_id)
        rule = await self._store.delete(rule_id)
        self._changed()
        return rule

    def active(self, grant: Grant) -> list[AlertEvent]:
        """The alerts firing now that the grant sees."""
        if self._engine is None:
            raise Unavailable("alerts are not evaluated in this process")
        return visible(self._engine.active(), grant)

    async def _visible(self, grant: Grant, rule_id: int) -> AlertRule:
        rule = await self._store.get(rule_id)
        if not self._sees(grant, rule):
            raise NotFound(f"no alert rule {rule_id}")
        if rule.pbx is None and not grant.every_pbx:
            raise Forbidden("a token scoped to some PBXes cannot change an every-PBX rule")
        return rule

    def _sees(self, grant: Grant, rule: AlertRule) -> bool:
        return rule.covers_pbx(self._pbx) and _sees_rule(grant, rule)

    def _changed(self) -> None:
        if self._engine is not None:
            self._engine.rules_changed()


def _sees_rule(grant: Grant, rule: AlertRule) -> bool:
    return grant.queues is None or (rule.queue is not None and grant.sees_queue(rule.queue))


def sees_alert(grant: Grant, event: AlertEvent) -> bool:
    """Whether `grant` sees `event`: its queue (an operator's: the membership concerned)."""
    return grant.queues is None or grant.sees_queue(event.queue)


def visible(events: Iterable[AlertEvent], grant: Grant) -> list[AlertEvent]:
    """The events `grant` sees."""
    return [event for event in events if sees_alert(grant, event)]


def rule_json(rule: AlertRule) -> dict[str, Any]:
    """A rule as REST serves it."""
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind.value,
        "queue": rule.queue,
        "threshold": rule.threshold,
        "windowMinutes": rule.window_minutes,
        "reason": rule.reason,
        "clearSeconds": rule.clear_seconds,
        "clearMargin": rule.clear_margin,
        "enabled": rule.enabled,
        "webhookUrl": rule.webhook_url,
        "updatedAt": None if rule.updated_at is None else rule.updated_at.isoformat(),
        "pbx": rule.pbx,
    }
