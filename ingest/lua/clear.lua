-- Remove every key of ours (entities and index sets), never anything else.
-- ARGV[1] key prefix. Publishes one "clear" change. Returns {operators, queues, channels}.
local prefix = ARGV[1]
local ENTITY = {"queue:operator:", "queue:status:", "channel:"}
local INDEX = {"queue:operators:all", "queues:all", "channels:all"}
local KIND = {"operator", "queue", "channel"}
local removed = {}
for n = 1, 3 do
  local count = 0
  local seen = {}
  for _, id in ipairs(redis.call("SMEMBERS", prefix .. INDEX[n])) do
    count = count + redis.call("DEL", prefix .. ENTITY[n] .. id)
    seen[id] = true
  end
  -- Keys left behind by hand edits or an older version, not in the index.
  local pattern = prefix .. ENTITY[n] .. "*"
  local cursor = "0"
  repeat
    local reply = redis.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
    cursor = reply[1]
    for _, key in ipairs(reply[2]) do
      if redis.call("TYPE", key).ok == "string" then
        count = count + redis.call("DEL", key)
      end
    end
  until cursor == "0"
  redis.call("DEL", prefix .. INDEX[n])
  removed[n] = count
end
-- Internal fields kept apart from the entities (see apply.lua).
redis.call("DEL", prefix .. "queue-status:staged:operator")
local version = redis.call("INCR", prefix .. "queue-status:version")
redis.call("PUBLISH", prefix .. "queue-status:changes",
  cjson.encode({{version = version, kind = "all", op = "clear", id = "", data = cjson.null}}))
return removed
