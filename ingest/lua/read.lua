-- Read whole collections in one atomic round trip, with the version they are at.
-- ARGV[1] key prefix, ARGV[2..] kinds. KEYS: declarations only (the version and the
-- kinds' index sets), so a Redis Cluster routes the call to the prefix's slot.
-- Returns {version, n1, id, value, ..., n2, ...}: per kind the number of entities, then
-- each one's id and stored JSON.
-- The store reads with SORT ... GET instead (values never become Lua strings there,
-- which costs Redis a few ms per thousand); this script serves prefixes SORT's GET
-- pattern cannot express (a "*" in the prefix) and a Redis Cluster, which refuses GET
-- patterns.
local prefix = ARGV[1]
local ENTITY = {operator = "queue:operator:", queue = "queue:status:", channel = "channel:"}
local INDEX = {operator = "queue:operators:all", queue = "queues:all", channel = "channels:all"}
local out = {redis.call("GET", prefix .. "queue-status:version") or "0"}
local CHUNK = 500
for i = 2, #ARGV do
  local kind = ARGV[i]
  local ids = redis.call("SMEMBERS", prefix .. INDEX[kind])
  local count_at = #out + 1
  out[count_at] = 0
  local n = 0
  for start = 1, #ids, CHUNK do
    local keys = {}
    local last = math.min(start + CHUNK - 1, #ids)
    for j = start, last do
      keys[#keys + 1] = prefix .. ENTITY[kind] .. ids[j]
    end
    local values = redis.call("MGET", unpack(keys))
    for j = 1, #keys do
      if values[j] then
        n = n + 1
        out[#out + 1] = ids[start + j - 1]
        out[#out + 1] = values[j]
      end
    end
  end
  out[count_at] = n
end
return out
