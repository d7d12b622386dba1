-- Take one relayed supervisor action for execution, at most once and only while leading.
-- KEYS[1] the ingest epoch, KEYS[2] the action's taken key, KEYS[3] its answer key.
-- ARGV[1] the taker's epoch, ARGV[2] the taken key's TTL (ms), ARGV[3] when the action
-- was added (ms, its stream id's time), ARGV[4] how long it may wait to be taken (ms).
-- Returns {"stale"} (a newer leader exists: leave it to them), {"answered", answer}
-- (a redelivery: the stored answer), {"expired"} (too old: never run late, now nobody
-- will), {"taken", by} (taken already, by an earlier leader's epoch or `expired` by the
-- process that gave up waiting: their answer, or none, is the answer),
-- or {"take"} (run it now).
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
if current ~= tonumber(ARGV[1]) then
  return {"stale"}
end
local answer = redis.call("GET", KEYS[3])
if answer then
  return {"answered", answer}
end
local by = redis.call("GET", KEYS[2])
if by then
  return {"taken", by}
end
-- Redis' own clock, the one the stream id was made with: no skew between hosts.
local now = redis.call("TIME")
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if now_ms - tonumber(ARGV[3]) > tonumber(ARGV[4]) then
  redis.call("SET", KEYS[2], "expired", "PX", ARGV[2])
  return {"expired"}
end
redis.call("SET", KEYS[2], ARGV[1], "PX", ARGV[2])
return {"take"}
