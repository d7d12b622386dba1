-- Apply a batch of patches atomically, stamp version and updatedAt, publish.
-- ARGV[1] key prefix, ARGV[2] now (ms epoch), ARGV[3] JSON array of patches,
-- ARGV[4] "1" to return the changes.
-- Returns the JSON array of changes ({version, kind, op, id, data}) or "[]".
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local patches = cjson.decode(ARGV[3])
local want_changes = ARGV[4] == "1"
local null = cjson.null

local ENTITY = {operator = "queue:operator:", queue = "queue:status:", channel = "channel:"}
local INDEX = {operator = "queue:operators:all", queue = "queues:all", channel = "channels:all"}
local VERSION = prefix .. "queue-status:version"
local CHANNEL = prefix .. "queue-status:changes"
-- Stamps and derived timestamps are not "a change" on their own.
local VOLATILE = {version = true, updatedAt = true, statusSince = true}

local function is_array(t)
  return type(t) == "table" and #t > 0
end

local function merge(target, patch)
  if type(patch) ~= "table" or is_array(patch) then
    return patch
  end
  if type(target) ~= "table" or is_array(target) then
    target = {}
  end
  for k, v in pairs(patch) do
    if v == null then
      target[k] = nil
    else
      target[k] = merge(target[k], v)
    end
  end
  return target
end

local function equal(a, b, top)
  if type(a) ~= type(b) then
    return false
  end
  if type(a) ~= "table" then
    return a == b
  end
  for k, v in pairs(a) do
    if not (top and VOLATILE[k]) and not equal(v, b[k], false) then
      return false
    end
  end
  for k, _ in pairs(b) do
    if not (top and VOLATILE[k]) and a[k] == nil then
      return false
    end
  end
  return true
end

local function copy(t)
  if type(t) ~= "table" then
    return t
  end
  local out = {}
  for k, v in pairs(t) do
    out[k] = copy(v)
  end
  return out
end

local function at_path(entity, path)
  local node = entity
  for i = 1, #path - 1 do
    local step = path[i]
    if type(node[step]) ~= "table" then
      node[step] = {}
    end
    node = node[step]
  end
  return node, path[#path]
end

local function normalize_operator(e, id, old)
  e.memberId = id
  if e.memberName == nil or e.memberName == "" then
    e.memberName = id
  end
  if e.status == nil then
    e.status = "unknown"
  end
  if type(e.queues) ~= "table" then
    e.queues = {}
  end
  local first, all_paused, any = nil, true, false
  for name, membership in pairs(e.queues) do
    any = true
    if first == nil or name < first then
      first = name
    end
    if type(membership) ~= "table" or not membership.paused then
      all_paused = false
    end
  end
  if any then
    if e.queueName == nil or e.queues[e.queueName] == nil then
      e.queueName = first
    end
    e.paused = all_paused
    if all_paused then
      local primary = e.queues[e.queueName]
      e.pausedReason = primary.pausedReason or ""
    else
      e.pausedReason = ""
    end
  else
    if e.paused == nil then
      e.paused = false
    end
    if e.pausedReason == nil then
      e.pausedReason = ""
    end
  end
  if old == nil or old.status ~= e.status or e.statusSince == nil then
    e.statusSince = now
  end
end

local function normalize_queue(e, id)
  e.name = id
  if type(e.callers) ~= "table" then
    e.callers = {}
  end
  local waiting = 0
  for _, _ in pairs(e.callers) do
    waiting = waiting + 1
  end
  e.callsWaiting = waiting
  for _, counter in ipairs({"completed", "abandoned"}) do
    if e[counter] == nil then
      e[counter] = 0
    end
  end
end

local function normalize_channel(e, id)
  e.name = id
end

local NORMALIZE = {operator = normalize_operator, queue = normalize_queue, channel = normalize_channel}

local changes = {}

local function record(kind, op, id, data)
  local version = redis.call("INCR", VERSION)
  changes[#changes + 1] = {version = version, kind = kind, op = op, id = id, data = data}
  return version
end

local function remove(kind, id)
  local key = prefix .. ENTITY[kind] .. id
  local existed = redis.call("DEL", key)
  redis.call("SREM", prefix .. INDEX[kind], id)
  if existed == 1 then
    record(kind, "delete", id, null)
  end
end

for _, p in ipairs(patches) do
  if p.retain then
    local kind = p.retain
    local keep = {}
    for _, id in ipairs(p.keep) do
      keep[id] = true
    end
    for _, id in ipairs(redis.call("SMEMBERS", prefix .. INDEX[kind])) do
      if not keep[id] then
        remove(kind, id)
      end
    end
  elseif p.del then
    remove(p.k, p.i)
  else
    local kind, id = p.k, p.i
    local key = prefix .. ENTITY[kind] .. id
    local raw = redis.call("GET", key)
    local old = nil
    if raw then
      old = cjson.decode(raw)
    end
    if old ~= nil or p.new ~= false then
      local entity
      if p.rep then
        entity = merge({}, p.s or {})
        if old ~= nil and old.statusSince ~= nil and entity.statusSince == nil then
          entity.statusSince = old.statusSince
        end
      else
        entity = merge(copy(old or {}), p.s or {})
      end
      for _, step in ipairs(p.inc or {}) do
        local node, leaf = at_path(entity, step[1])
        node[leaf] = (tonumber(node[leaf]) or 0) + step[2]
      end
      for _, step in ipairs(p.max or {}) do
        local node, leaf = at_path(entity, step[1])
        local current = tonumber(node[leaf])
        if current == nil or step[2] > current then
          node[leaf] = step[2]
        end
      end
      NORMALIZE[kind](entity, id, old)
      if old == nil or not equal(entity, old, true) then
        entity.updatedAt = now
        entity.version = record(kind, "upsert", id, entity)
        redis.call("SET", key, cjson.encode(entity))
        redis.call("SADD", prefix .. INDEX[kind], id)
      end
    end
  end
end

if #changes == 0 then
  return "[]"
end
local encoded = cjson.encode(changes)
redis.call("PUBLISH", CHANNEL, encoded)
if want_changes then
  return encoded
end
return "[]"
