"""The wallboard: static files at /static and the page itself at /.

No build step and nothing from a CDN: the page is plain HTML, CSS and ES
modules under `api/static/wallboard/` and ships inside the package
(package-data `static/**/*`). Every response carries a strict
Content-Security-Policy: scripts, styles, images and fonts from this origin
only, and network access only to this origin's HTTP and WebSocket endpoints
(`ws:`/`wss:` because CSP level 2 browsers do not match WebSocket URLs with
'self').
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
INDEX = STATIC_DIR / "wallboard" / "index.html"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "connect-src 'self' ws: wss:",
        "base-uri 'none'",
        "object-src 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # A token may arrive as ?token=…; never send the page's URL anywhere.
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETag makes that cheap) so a deployed fix reaches
    # a wall TV at its next reload instead of whenever its cache expires.
    "Cache-Control": "no-cache",
}


class WallboardFiles(StaticFiles):
    """StaticFiles whose answers carry the security and caching headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file (or 304/404) with our headers added."""
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_wallboard(app: FastAPI) -> None:
    """Serve the wallboard at / and its assets under /static."""
    if not INDEX.is_file():  # a broken install should fail at startup, not on the wall
        raise RuntimeError(f"wallboard assets missing: {INDEX} (is package data installed?)")
    app.mount("/static", WallboardFiles(directory=STATIC_DIR), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def wallboard() -> Response:
        """The live wallboard page."""
        return FileResponse(INDEX, media_type="text/html", headers=SECURITY_HEADERS)
