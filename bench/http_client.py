"""A small HTTP/1.1 load client, used when wrk is not installed.

    python -m bench.http_client URL --connections 50 --seconds 5 [--body FILE]

Keep-alive connections, each sending its next request as soon as the last
answer is read (as wrk does); prints one JSON line with wrk's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit

import orjson


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int, int]:
    """Read one HTTP/1.1 response with a Content-Length: (status, head bytes, body bytes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status, len(head), length


async def _connection(
    host: str,
    port: int,
    request: bytes,
    deadline: float,
    latencies: list[float],
    counters: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            status, head_length, length = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            counters["bytes"] += head_length + length
            if status >= 400:
                counters["bad_status"] += 1
    except (OSError, asyncio.IncompleteReadError):
        counters["errors"] += 1
    finally:
        writer.close()


async def run(url: str, connections: int, seconds: float, body: bytes | None) -> dict[str, int]:
    """Load `url`; wrk's summary figures."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if body is None:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    else:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    latencies: list[float] = []
    counters = {"errors": 0, "bad_status": 0, "bytes": 0}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(host, port, request, deadline, latencies, counters)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def percentile(share: float) -> int:
        if not ordered:
            return 0
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e6)

    return {
        "requests": len(ordered),
        "duration_us": round(elapsed * 1e6),
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
        "errors": counters["errors"],
        "bad_status": counters["bad_status"],
        "bytes": counters["bytes"],
    }


def main() -> None:
    """Parse the arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--body", help="a file to POST as application/json")
    args = parser.parse_args()
    body = None
    if args.body:
        with open(args.body, "rb") as handle:
            body = handle.read()
    summary = asyncio.run(run(args.url, args.connections, args.seconds, body))
    print(orjson.dumps(summary).decode())


if __name__ == "__main__":
    main()
