#!/usr/bin/env bash
# Make sure Redis and PostgreSQL answer on loopback; start them when they are
# installed but down (the commands of this machine's services), then wait.
set -uo pipefail

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

wait_for() {
  local name=$1 check=$2
  for _ in $(seq 1 60); do
    if $check; then echo "$name: up"; return 0; fi
    sleep 0.5
  done
  echo "$name: not answering on 127.0.0.1" >&2
  return 1
}

if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "redis: down, starting it"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
fi
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "postgresql: down, starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
fi
wait_for redis redis_up && wait_for postgresql pg_up
