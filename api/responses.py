"""A JSON response rendered by orjson: the REST hot path skips FastAPI's re-encoding."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """`application/json` rendered with orjson (Redis JSON passes through as-is)."""

    def render(self, content: Any) -> bytes:
        """Encode with orjson."""
        return orjson.dumps(content)


def error_body(message: str) -> dict[str, Any]:
    """The documented error shape."""
    return {"success": False, "error": message}
