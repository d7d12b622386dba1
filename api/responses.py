"""JSON responses: orjson for built objects, pre-encoded bytes for what Redis already holds."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from ingest.store import RawCollection


class OrjsonResponse(JSONResponse):
    """`application/json` rendered with orjson (Redis JSON passes through as-is)."""

    def render(self, content: Any) -> bytes:
        """Encode with orjson."""
        return orjson.dumps(content)


class RawJsonResponse(Response):
    """`application/json` whose body is already encoded (the same bytes orjson would give)."""

    media_type = "application/json"


def collection_body(collection: RawCollection) -> bytes:
    """`{"success": true, "data": [...], "count": n}` around a stored collection, unparsed.

    Byte for byte `orjson.dumps({"success": True, "data": entities, "count": n})`.
    """
    return collection.wrapped(
        b'{"success":true,"data":', b',"count":' + str(collection.count).encode() + b"}"
    )


def error_body(message: str) -> dict[str, Any]:
    """The documented error shape."""
    return {"success": False, "error": message}
