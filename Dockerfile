# queue-status: API + AMI ingest in one process (`queue-status serve`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Dependencies first, from pyproject.toml alone (empty packages stand in for the
# code), so that a code change rebuilds only the last layers. The image runs
# serve, migrate, simulate and demo: `demo` needs the demo extra (fakeredis,
# aiosqlite), so it is installed here; an image without it would use `pip install .`.
COPY pyproject.toml README.md ./
RUN mkdir api ingest simulator \
 && pip install '.[demo]' \
 && pip uninstall --yes queue-status

COPY api ./api
COPY ingest ./ingest
COPY simulator ./simulator
RUN pip install --no-deps . \
 && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin queue-status \
 && mkdir -p /app/logs \
 && chown -R queue-status /app
USER queue-status
WORKDIR /app

# Every interface of the container (publish the port on 127.0.0.1 unless it must be
# reachable): on a non-loopback HOST the app refuses to start with a token under 16
# characters or containing change-me, and without tokens it refuses every write.
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

# /healthz answers 200 while the API can serve (503 when Redis is down).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=4)"]

CMD ["queue-status", "serve"]
