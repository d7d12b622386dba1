"""The wallboard page fed from a recording, without its server (scenario 7b's page side).

The page's own code runs unchanged; only its two ways out are replaced. Every
HTTP request is answered by Playwright (`page.route`): the page and its files
from `api/static`, a GraphQL POST with what the server answered that very
query when it was recorded. The WebSocket is a stand-in installed before the
page's scripts run (`page.add_init_script`): it acknowledges the connection,
answers pings, and, once started, delivers the recorded `changes` frames to
the page's subscription at the offsets they arrived at (several at once when
the page was busy past a frame's time, as a real socket queues them).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import orjson
from playwright.async_api import Page, Route

from api.wallboard import INDEX, STATIC_DIR

ORIGIN = "http://wallboard.replay"

# window.WebSocket for the page: graphql-transport-ws answered here, frames from
# `window.__replay.frames`, delivered from `window.__replay.start()`: [[offset ms, payload text], ...].
FAKE_WEBSOCKET_JS = """(() => {
  const sockets = [];
  class ReplaySocket {
    static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
    constructor(url, protocol) {
      this.url = url; this.protocol = protocol; this.readyState = 0;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this.changesId = null;
      sockets.push(this);
      setTimeout(() => { this.readyState = 1; this.onopen?.({}); }, 0);
    }
    deliver(text) { this.onmessage?.({ data: text }); }
    send(text) {
      const message = JSON.parse(text);
      if (message.type === 'connection_init') setTimeout(() => this.deliver('{"type":"connection_ack"}'), 0);
      else if (message.type === 'ping') setTimeout(() => this.deliver('{"type":"pong"}'), 0);
      else if (message.type === 'subscribe' && message.payload.operationName === 'WallboardChanges') {
        this.changesId = message.id;
      }
    }
    close() { this.readyState = 3; }
  }
  window.WebSocket = ReplaySocket;
  window.__replay = {
    subscribed: () => sockets.some((s) => s.readyState === 1 && s.changesId !== null),
    delivered: 0,
    frames: [],
    start() {
      const frames = window.__replay.frames;
      const socket = sockets.find((s) => s.readyState === 1 && s.changesId !== null);
      const head = `{"id":${JSON.stringify(socket.changesId)},"type":"next","payload":`;
      const started = performance.now();
      let next = 0;
      const pump = () => {
        const now = performance.now() - started;
        while (next < frames.length && frames[next][0] <= now) {
          socket.deliver(head + frames[next][1] + '}');
          next += 1;
          window.__replay.delivered = next;
        }
        if (next < frames.length) setTimeout(pump, Math.max(0, frames[next][0] - (performance.now() - started)));
      };
      pump();
    },
  };
})();"""


async def serve_recording(page: Page, answers: dict[str, bytes]) -> None:
    """Answer the page's requests: files from disk, GraphQL from `answers` (query → body)."""

    async def handle(route: Route) -> None:
        request = route.request
        path = request.url.removeprefix(ORIGIN).split("?")[0]
        if path.endswith("/graphql") and request.method == "POST":
            query = str(orjson.loads(request.post_data_buffer or b"{}").get("query", ""))
            body = answers.get(query)
            if body is None:
                await route.fulfill(status=400, body=b'{"errors":[{"message":"not recorded"}]}')
                return
            await route.fulfill(status=200, body=body, content_type="application/json")
            return
        file = INDEX if path in ("", "/") else STATIC_DIR / path.removeprefix("/static/")
        if not _inside(file, STATIC_DIR) or not file.is_file():
            await route.fulfill(status=404, body=b"")
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".js":
            content_type = "text/javascript"
        await route.fulfill(status=200, body=file.read_bytes(), content_type=content_type)

    await page.add_init_script(FAKE_WEBSOCKET_JS)
    await page.route(f"{ORIGIN}/**", handle)


def _inside(file: Path, directory: Path) -> bool:
    return file.resolve().is_relative_to(directory.resolve())


async def load_frames(page: Page, frames: list[tuple[float, str]]) -> None:
    """Hand the page `frames` ((seconds after the first, payload text)), once it has subscribed.

    Before the measurement starts: taking a few megabytes in is a long task of its own.
    """
    await page.wait_for_function("() => window.__replay.subscribed()", polling=50)
    shipped: list[list[Any]] = [[round(offset * 1000, 3), text] for offset, text in frames]
    await page.evaluate("(frames) => { window.__replay.frames = frames; }", shipped)


async def start_replay(page: Page) -> None:
    """Deliver the loaded frames from now on, at their offsets."""
    await page.evaluate("() => window.__replay.start()")
