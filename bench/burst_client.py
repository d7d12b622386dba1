"""The burst's API client: REST and GraphQL requests, each timed, until told to stop.

    python -m bench.burst_client --rest URL --graphql URL --body FILE --connections 2

Each connection (keep-alive) sends a request, reads the answer, waits `--pause`
seconds and starts again, until its standard input closes; then one JSON line:
``{"rest": [[sent_at, seconds, status], …], "graphql": […], "errors": n}``, the
send times on the machine's monotonic clock (the parent picks the requests of
the burst's window by them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.http_client import read_response

Sample = list[float]


def _request(url: str, body: bytes | None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if body is None:
        return host, port, f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return host, port, head.encode() + body


async def _connection(
    url: str, body: bytes | None, pause: float, stop: asyncio.Event, samples: list[Sample]
) -> int:
    """Requests until `stop`; the errors seen (a broken connection is opened again)."""
    host, port, request = _request(url, body)
    errors = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors += 1
            await asyncio.sleep(0.1)
            continue
        try:
            while not stop.is_set():
                sent_at = time.monotonic()
                writer.write(request)
                status, _, _ = await read_response(reader)
                samples.append([sent_at, time.monotonic() - sent_at, status])
                if pause > 0:
                    await asyncio.sleep(pause)
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()
    return errors


async def _stdin_closed(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    stop.set()


async def run(
    rest: str, graphql: str, body: bytes, connections: int, pause: float
) -> dict[str, Any]:
    """Load until standard input closes; the samples."""
    stop = asyncio.Event()
    rest_samples: list[Sample] = []
    graphql_samples: list[Sample] = []
    watcher = asyncio.create_task(_stdin_closed(stop))
    errors = await asyncio.gather(
        *(_connection(rest, None, pause, stop, rest_samples) for _ in range(connections)),
        *(_connection(graphql, body, pause, stop, graphql_samples) for _ in range(connections)),
    )
    watcher.cancel()
    return {"rest": rest_samples, "graphql": graphql_samples, "errors": sum(errors)}


def main() -> None:
    """Parse the arguments, load, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rest", required=True)
    parser.add_argument("--graphql", required=True)
    parser.add_argument("--body", required=True, help="the GraphQL request (a JSON file)")
    parser.add_argument("--connections", type=int, default=2, help="per kind")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between requests")
    args = parser.parse_args()
    with open(args.body, "rb") as handle:
        body = handle.read()
    result = asyncio.run(run(args.rest, args.graphql, body, args.connections, args.pause))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
