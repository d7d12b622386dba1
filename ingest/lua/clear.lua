-- One bounded step of `clear`: remove up to ARGV[2] entities of each kind, taken from our
-- own index sets (SPOP), never found by a key pattern: a prefix is not a glob, and keys
-- that are not named by our sets (another tenant's, another app's) are never touched.
-- Entity keys come from set members, so they cannot be declared in KEYS: in a Redis
-- Cluster they share the prefix's hash tag, so they are in the declared keys' slot.
-- ARGV[1] key prefix, ARGV[2] batch size per kind, ARGV[3] (optional) "SPUBLISH" in a
-- Redis Cluster, else the clear is PUBLISHed. KEYS: declarations only (the version, the
-- index sets, the staged hash), so a cluster routes the call to the prefix's slot.
-- Returns {operators, queues, channels, left}: keys deleted by this step per kind, and
-- how many ids the sets still hold. The step that leaves them empty publishes one
-- "clear" change, so subscribers drop their copy when the store is really empty.
local prefix = ARGV[1]
local batch = tonumber(ARGV[2])
local PUBLISH = ARGV[3] == "SPUBLISH" and "SPUBLISH" or "PUBLISH"
local ENTITY = {"queue:operator:", "queue:status:", "channel:"}
local INDEX = {"queue:operators:all", "queues:all", "channels:all"}
local reply = {}
local left = 0
for n = 1, 3 do
  local removed = 0
  local ids = redis.call("SPOP", prefix .. INDEX[n], batch)
  if #ids > 0 then
    local keys = {}
    for i, id in ipairs(ids) do
      keys[i] = prefix .. ENTITY[n] .. id
    end
    removed = redis.call("DEL", unpack(keys))
  end
  reply[n] = removed
  left = left + redis.call("SCARD", prefix .. INDEX[n])
end
if left == 0 then
  -- Internal fields kept apart from the entities (see apply.lua).
  redis.call("DEL", prefix .. "queue-status:staged:operator")
  local version = redis.call("INCR", prefix .. "queue-status:version")
  redis.call(PUBLISH, prefix .. "queue-status:changes",
    cjson.encode({{version = version, kind = "all", op = "clear", id = "", data = cjson.null}}))
end
reply[4] = left
return reply
