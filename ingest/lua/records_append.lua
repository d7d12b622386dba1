-- Append call records to the capped buffer stream, atomically with the cap.
-- KEYS[1] the stream, KEYS[2] the overflow counter.
-- ARGV[1] the cap (entries), ARGV[2..] one encoded record each.
-- As many records as fit under the cap are added (one entry each, field "r"); the rest
-- are not added and counted in the overflow counter (INCRBY), never silently lost.
-- Returns {added, overflowed}.
local cap = tonumber(ARGV[1])
local room = cap - redis.call("XLEN", KEYS[1])
local added = 0
for n = 2, #ARGV do
  if added >= room then
    break
  end
  redis.call("XADD", KEYS[1], "*", "r", ARGV[n])
  added = added + 1
end
local overflowed = (#ARGV - 1) - added
if overflowed > 0 then
  redis.call("INCRBY", KEYS[2], overflowed)
end
return {added, overflowed}
