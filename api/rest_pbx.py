"""REST's `?pbx=`: which PBX a request reads or acts on (the default one without it).

Every /api/queue-status route takes it through `RequestPbx`: the name must be
one of PBXES (`default` without PBXES) and within the token's scope; a name
that is neither — unknown, or out of scope — is the same 404. The token is
checked first, so only a caller who may read learns that a name is unknown.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from pydantic import BeforeValidator

from api.auth import Action
from api.pbx_runtime import PbxRuntime
from api.runtime import runtime_of
from ingest.logs import log_on_behalf_of


def _empty_is_absent(value: object) -> object:
    return None if value == "" else value


PbxParameter = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The PBX (GET /pbxes lists them); omitted: the default one, the first "
        "of PBXES. Unknown or outside the token's scope: 404.",
    ),
    BeforeValidator(_empty_is_absent),
]


async def request_pbx(
    request: Request,
    pbx: PbxParameter = None,
    authorization: Annotated[str | None, Header()] = None,
) -> PbxRuntime:
    """The request's PBX, after the token (if any) is known to be one that may read."""
    runtime = runtime_of(request.app)
    if pbx is not None:
        runtime.policy.check(Action.READ, authorization)
    found = runtime.pbx(pbx)
    if runtime.several:  # the lines this request logs (a resync, an action) name it
        log_on_behalf_of(found.name)
    return found


RequestPbx = Annotated[PbxRuntime, Depends(request_pbx)]
