"""What a token grants, as the `access` query answers it (REST: `GET /access`).

The board asks once (and again after its token changes) which controls to
show: pause and penalty buttons for a supervisor, adding and removing members
for an admin, none for a viewer, and which queues it is limited to. The
rules are the access policy's (`api.auth.AccessPolicy.describe`), not
restated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import strawberry

from api.auth import AccessSummary


@strawberry.enum(description="What a token may do (API_TOKENS); a higher role includes the lower.")
class Role(Enum):
    """`api.settings.Role`, for GraphQL."""

    VIEWER = strawberry.enum_value("viewer", description="Reads only.")
    SUPERVISOR = strawberry.enum_value(
        "supervisor",
        description="Also pauses, unpauses, sets penalties, listens in, sets operator status.",
    )
    ADMIN = strawberry.enum_value(
        "admin", description="Also adds and removes members, resyncs and clears."
    )


@strawberry.type(description="What the token of this request (or connection) grants.")
class Access:
    """`AccessSummary`, with the pause reasons."""

    role: Role | None = strawberry.field(
        description="The token's role; null when no token was presented."
    )
    queues: list[str] | None = strawberry.field(
        description=(
            "The queues the token is limited to, sorted; null for every queue. A scoped "
            "token sees only these queues' operators (with those memberships only), "
            "queues, channels and changes, and acts only on their members."
        )
    )
    extension: str | None = strawberry.field(
        description="The token's own extension (where listening in rings); null when none."
    )
    can_supervise: bool = strawberry.field(
        description=(
            "Whether pausing, unpausing, penalties and listening in are allowed (a "
            "supervisor or admin token; anyone on loopback without tokens)."
        )
    )
    can_manage_members: bool = strawberry.field(
        description=(
            "Whether adding and removing members is allowed (an admin token; anyone on "
            "loopback without tokens)."
        )
    )
    pause_reasons: list[str] = strawberry.field(
        description="The pause reasons to offer (PAUSE_REASONS); when set, only these are accepted."
    )
    actions_enabled: bool = strawberry.field(
        description=(
            "Whether writes are possible at all on this server: tokens are configured (a "
            "token of the right role is then needed), or it listens on loopback without "
            "tokens. False: no write control should be shown."
        )
    )

    @classmethod
    def from_summary(cls, summary: AccessSummary, pause_reasons: Sequence[str]) -> Access:
        """Build from the policy's summary."""
        return cls(
            role=None if summary.role is None else Role(summary.role.name.lower()),
            queues=None if summary.queues is None else sorted(summary.queues),
            extension=summary.extension,
            can_supervise=summary.can_supervise,
            can_manage_members=summary.can_manage_members,
            pause_reasons=list(pause_reasons),
            actions_enabled=summary.actions_enabled,
        )
