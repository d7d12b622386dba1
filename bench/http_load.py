"""HTTP load from a separate process: wrk when installed, else our asyncio client.

Both keep `connections` keep-alive connections busy for `seconds` and report
requests per second and latency percentiles. wrk reports through a Lua
`done()` hook (exact counts and its µs histogram), our client prints the same
JSON (see `bench.http_client`).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.processes import project_path

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"bad_status":%d,"bytes":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, summary.bytes))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One load run's figures."""

    tool: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    bytes_per_request: float

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def wrk_available() -> bool:
    """Whether wrk is installed."""
    return shutil.which("wrk") is not None


async def run_load(
    url: str,
    *,
    connections: int,
    seconds: float,
    body: bytes | None = None,
    tool: str | None = None,
) -> LoadResult:
    """GET `url` (or POST `body` as JSON) from `connections` connections for `seconds`."""
    chosen = tool or ("wrk" if wrk_available() else "python")
    if chosen == "wrk":
        raw = await _wrk(url, connections, seconds, body)
    else:
        raw = await _python_client(url, connections, seconds, body)
    requests = int(raw["requests"])
    duration = float(raw["duration_us"]) / 1e6
    return LoadResult(
        tool=chosen,
        connections=connections,
        requests=requests,
        seconds=round(duration, 3),
        rps=requests / duration if duration > 0 else 0.0,
        p50_ms=float(raw["p50_us"]) / 1000,
        p99_ms=float(raw["p99_us"]) / 1000,
        errors=int(raw["errors"]) + int(raw["bad_status"]),
        bytes_per_request=float(raw["bytes"]) / requests if requests else 0.0,
    )


async def _finish(
    process: asyncio.subprocess.Process, limit: float, tool: str
) -> tuple[bytes, bytes]:
    """Its output once it ends; killed (and an error) when it runs `limit` seconds more."""
    try:
        async with asyncio.timeout(limit):
            return await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{tool} did not end in time") from None


async def _wrk(url: str, connections: int, seconds: float, body: bytes | None) -> dict[str, Any]:
    script = _DONE
    if body is not None:
        text = body.decode()
        level = "=" * (text.count("]") + 1)
        script = (
            'wrk.method = "POST"\n'
            f"wrk.body = [{level}[{text}]{level}]\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        ) + script
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = Path(handle.name)
    try:
        process = await asyncio.create_subprocess_exec(
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(path),
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await _finish(process, seconds + 60, "wrk")
    finally:
        path.unlink(missing_ok=True)  # noqa: ASYNC240 - a small local file
    return _last_json(out, err, "wrk")


async def _python_client(
    url: str, connections: int, seconds: float, body: bytes | None
) -> dict[str, Any]:
    args = [
        "-m",
        "bench.http_client",
        url,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
    ]
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        if body is not None:
            handle.write(body)
        body_path = Path(handle.name)
    if body is not None:
        args += ["--body", str(body_path)]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env={"PYTHONPATH": project_path()},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await _finish(process, seconds + 60, "bench.http_client")
    finally:
        body_path.unlink(missing_ok=True)  # noqa: ASYNC240 - a small local file
    return _last_json(out, err, "bench.http_client")


def _last_json(out: bytes, err: bytes, tool: str) -> dict[str, Any]:
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = orjson.loads(line)
            return parsed
    raise RuntimeError(f"{tool} printed no result:\n{out.decode()[-2000:]}\n{err.decode()[-2000:]}")
