"""The `pbx` argument every root field takes (`GraphQLContext.at`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

PbxArgument = Annotated[
    str | None,
    strawberry.argument(
        description=(
            "The PBX to read or act on (see `pbxes`); omitted: the only one. Required when "
            "the server has several (PBXES); unknown or outside the token's scope: NOT_FOUND."
        )
    ),
]
