-- Apply a batch of patches atomically, stamp version and updatedAt, publish.
-- ARGV[1] key prefix, ARGV[2] now (ms epoch), ARGV[3] JSON array of patches,
-- ARGV[4] "1" to return the changes, ARGV[5..8] optional (below).
-- KEYS: declarations only (names are built from the prefix): the keys the batch touches
-- that are known before it runs, so a Redis Cluster routes the call to their slot and
-- refuses it before anything is written if they were not in one slot (every key of a PBX
-- shares the prefix's hash tag, so those found inside, in index sets, share it too).
-- Returns the JSON array of changes ({version, kind, op, id, data}) or "[]".
-- Per patch: guard ("if"), shift ("sh"), merge ("s"), smooth ("sm"), count_within
-- ("cw"), incr ("inc"), maximum ("max"), copy ("cp"), fold ("fd"), then the per-kind
-- normalization.
-- See ingest/patches.py for what each operation means.
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local patches = cjson.decode(ARGV[3])
local want_changes = ARGV[4] == "1"
local null = cjson.null
-- ARGV[5], ARGV[6] (optional): a writer id and this batch's number among its batches. A
-- number at or below the last one applied for the writer is a batch sent again after its
-- reply was lost (a timeout): it was applied already, so nothing is done.
-- ARGV[7] (optional): the ingest leader's epoch (its fencing token, see ingest/election.py).
-- A write from an older epoch than the PBX's current one comes from a deposed leader
-- (paused past its lease, cut off): refused before anything is touched. So is one from
-- a newer epoch than the stored one, or from any epoch once the counter is gone: Redis
-- lost it (restarted empty, failed over to a replica that missed the INCR), and the
-- writer cannot tell whether a newer leader exists; refused, it stands again for a
-- fresh epoch and reconciles. Writes without an epoch (the API's own: sync, resync,
-- legacy mutations) are not fenced.
-- ARGV[8] (optional): "SPUBLISH" in a Redis Cluster (sharded pub/sub: the batch stays on
-- this slot's shard), else the batch is PUBLISHed.
local PUBLISH = ARGV[8] == "SPUBLISH" and "SPUBLISH" or "PUBLISH"
if ARGV[7] ~= nil and ARGV[7] ~= "" then
  local writer_epoch = tonumber(ARGV[7])
  local stored = redis.call("GET", prefix .. "queue-status:ingest:epoch")
  local current = tonumber(stored or "0")
  if writer_epoch < current then
    return redis.error_reply("STALE_EPOCH write from epoch " .. ARGV[7] .. ", current " .. current)
  end
  if writer_epoch > current then
    return redis.error_reply(
      "STALE_EPOCH write from epoch " .. ARGV[7] .. ", but the stored epoch is "
        .. (stored and current or "gone") .. " (Redis lost it)"
    )
  end
end
local writer_mark, writer_seq = nil, nil
if ARGV[5] ~= nil and ARGV[5] ~= "" then
  writer_mark = prefix .. "queue-status:writer:" .. ARGV[5]
  writer_seq = tonumber(ARGV[6])
  if writer_seq <= tonumber(redis.call("GET", writer_mark) or "-1") then
    return "[]"
  end
end

local ENTITY = {operator = "queue:operator:", queue = "queue:status:", channel = "channel:"}
local INDEX = {operator = "queue:operators:all", queue = "queues:all", channel = "channels:all"}
local VERSION = prefix .. "queue-status:version"
local CHANNEL = prefix .. "queue-status:changes"
-- Bookkeeping of ours that no answer shows: kept out of the entity's documented JSON,
-- in one hash (field = id, value = JSON of those fields), and merged back in here only.
local STAGED = {operator = prefix .. "queue-status:staged:operator"}
local INTERNAL = {operator = {"callsAfterCall"}}
-- Stamps and derived timestamps are not "a change" on their own.
local VOLATILE = {version = true, updatedAt = true, statusSince = true}
-- A path step standing for every key present at that point.
local EACH = "*"

-- Redis' cjson writes an empty table as {}; the demo's (fakeredis, in Python) as [].
-- Entities hold no arrays (see ingest/patches.py): there an empty table is an object.
local EMPTY_IS_ARRAY = cjson.encode({}) == "[]"
local EMPTY_MARK = "\0"
local EMPTY_MARKED = '{"\\u0000":true}'

local function mark_empty(value)
  if type(value) ~= "table" then
    return value
  end
  if next(value) == nil then
    return {[EMPTY_MARK] = true}
  end
  local out = {}
  for k, v in pairs(value) do
    out[k] = mark_empty(v)
  end
  return out
end

-- JSON as Redis' cjson writes it, on either engine.
local function encode(value)
  if not EMPTY_IS_ARRAY then
    return cjson.encode(value)
  end
  -- The marked object can only match where it stands for an empty table: inside a JSON
  -- string a quote is always escaped.
  return (string.gsub(cjson.encode(mark_empty(value)), EMPTY_MARKED, "{}"))
end

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

-- The parent table of the leaf of `path` (created on the way) and the leaf key.
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

-- The value at `path`, or nil; never creates anything. An empty path is the entity.
local function get_at(entity, path)
  local node = entity
  for i = 1, #path do
    if type(node) ~= "table" then
      return nil
    end
    node = node[path[i]]
  end
  if node == null then
    return nil
  end
  return node
end

local function remove_at(entity, path)
  local node = entity
  for i = 1, #path - 1 do
    node = node[path[i]]
    if type(node) ~= "table" then
      return
    end
  end
  node[path[#path]] = nil
end

local function sorted_keys(t)
  local keys = {}
  for k, _ in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Every concrete path `path` names in `entity`: an EACH step takes each key present
-- there (in key order; inner steps only keys holding objects). A path without EACH
-- names itself, present or not. Returns a list of {path = ..., keys = {...}}, keys
-- being what the EACH steps took, in order.
local function expand(entity, path)
  local out = {}
  local function walk(node, i, concrete, keys)
    if i > #path then
      out[#out + 1] = {path = concrete, keys = keys}
      return
    end
    local step = path[i]
    if step ~= EACH then
      local next_path = copy(concrete)
      next_path[#next_path + 1] = step
      local child = nil
      if type(node) == "table" then
        child = node[step]
      end
      walk(child, i + 1, next_path, keys)
      return
    end
    if type(node) ~= "table" then
      return
    end
    for _, k in ipairs(sorted_keys(node)) do
      if i == #path or type(node[k]) == "table" then
        local next_path = copy(concrete)
        next_path[#next_path + 1] = k
        local next_keys = copy(keys)
        next_keys[#next_keys + 1] = k
        walk(node[k], i + 1, next_path, next_keys)
      end
    end
  end
  walk(entity, 1, {}, {})
  return out
end

-- `path` with its EACH steps replaced, in order, by `keys`.
local function bind(path, keys)
  local out, n = {}, 0
  for i, step in ipairs(path) do
    if step == EACH and keys[n + 1] ~= nil then
      n = n + 1
      out[i] = keys[n]
    else
      out[i] = step
    end
  end
  return out
end

-- The entities this batch has read or written, by key: the decoded entity, or false when
-- there is none. Patches to one entity come in runs (a call's channel, an operator's
-- device): it is decoded once per batch, and written once, at the end (`dirty`), instead
-- of once per patch. Everything in the script reads entities through `load_key`.
local entities = {}
local dirty = {}

local function load_key(key)
  local cached = entities[key]
  if cached == nil then
    local raw = redis.call("GET", key)
    cached = raw and cjson.decode(raw) or false
    entities[key] = cached
  end
  return cached or nil
end

local function load(kind, id)
  return load_key(prefix .. ENTITY[kind] .. id)
end

local function present(value)
  if value == nil or value == null then
    return false
  end
  if type(value) == "table" then
    return next(value) ~= nil
  end
  return true
end

local function guard_holds(g)
  local entity = load(g.k, g.i)
  local value = nil
  if entity ~= nil then
    value = get_at(entity, g.p)
  end
  local holds
  if g.eq ~= nil and g.eq ~= null then
    holds = value == g.eq
  else
    holds = present(value)
  end
  if g["not"] then
    holds = not holds
  end
  return holds
end

-- Queues read while normalizing operators (their wrapupTime), per batch; a queue
-- written in this batch is read again.
local queue_cache = {}

local function queue_wrapup(name)
  local cached = queue_cache[name]
  if cached == nil then
    local queue = load("queue", name)
    cached = 0
    if type(queue) == "table" then
      cached = tonumber(queue.wrapupTime) or 0
    end
    queue_cache[name] = cached
  end
  return cached
end

local function normalize_operator(e, id, old)
  e.memberId = id
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
    if type(membership) == "table" then
      -- Where earlier versions staged it, in the documented JSON: kept apart now.
      membership.callsAfterCall = nil
      -- Wrap-up has no event: LastCall + the member's Wrapuptime, else the queue's.
      local last_call = tonumber(membership.lastCall) or 0
      if last_call > 0 then
        local wrapup = tonumber(membership.wrapupTime) or 0
        if wrapup <= 0 then
          wrapup = queue_wrapup(name)
        end
        membership.wrapupUntil = last_call + wrapup
      else
        membership.wrapupUntil = nil
      end
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
    -- Asterisk names a member per queue; show the primary queue's name, so the
    -- operator's name does not flip with every event of another queue.
    local name = nil
    local primary = e.queues[e.queueName]
    if type(primary) == "table" and type(primary.memberName) == "string" and primary.memberName ~= "" then
      name = primary.memberName
    else
      for _, queue_name in ipairs(sorted_keys(e.queues)) do
        local membership = e.queues[queue_name]
        if type(membership) == "table" and type(membership.memberName) == "string" and membership.memberName ~= "" then
          name = membership.memberName
          break
        end
      end
    end
    if name ~= nil then
      e.memberName = name
    end
  else
    -- In no queue: no primary queue either (the documented field stays, empty).
    e.queueName = ""
    if e.paused == nil then
      e.paused = false
    end
    if e.pausedReason == nil then
      e.pausedReason = ""
    end
  end
  if e.memberName == nil or e.memberName == "" then
    e.memberName = id
  end
  -- A count staged for a membership that is gone has nothing left to settle.
  if type(e.callsAfterCall) == "table" then
    for name, _ in pairs(e.callsAfterCall) do
      if e.queues[name] == nil then
        e.callsAfterCall[name] = nil
      end
    end
    if next(e.callsAfterCall) == nil then
      e.callsAfterCall = nil
    end
  else
    e.callsAfterCall = nil
  end
  if old == nil or old.status ~= e.status or e.statusSince == nil then
    e.statusSince = now
  end
end

-- A percentage as app_queue prints it in QueueParams ("%2.1f").
local function percent(part, whole)
  if whole <= 0 then
    return 0
  end
  return tonumber(string.format("%.1f", 100 * part / whole))
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
  -- Service level as app_queue computes it, once calls within it are counted.
  local completed_in = tonumber(e.completedInServiceLevel)
  local abandoned_in = tonumber(e.abandonedInServiceLevel)
  if completed_in ~= nil or abandoned_in ~= nil then
    completed_in = completed_in or 0
    abandoned_in = abandoned_in or 0
    e.completedInServiceLevel = completed_in
    e.abandonedInServiceLevel = abandoned_in
    e.serviceLevelPerf = percent(completed_in, e.completed)
    e.serviceLevelPerf2 = percent(completed_in + abandoned_in, e.completed + e.abandoned)
  end
  queue_cache[id] = nil
end

local function normalize_channel(e, id)
  e.name = id
end

local NORMALIZE = {operator = normalize_operator, queue = normalize_queue, channel = normalize_channel}

-- The operations on numbers, in their fixed order after the merge.
local function apply_smooth(entity, steps)
  for _, step in ipairs(steps or {}) do
    local path, sample, counters = step[1], step[2], step[3]
    for _, hit in ipairs(expand(entity, path)) do
      local seen = 0
      for _, counter in ipairs(counters) do
        seen = seen + (tonumber(get_at(entity, bind(counter, hit.keys))) or 0)
      end
      local node, leaf = at_path(entity, hit.path)
      if seen == 0 then
        node[leaf] = sample
      else
        node[leaf] = math.floor((3 * (tonumber(node[leaf]) or 0) + sample) / 4)
      end
    end
  end
end

local function apply_count_within(entity, steps)
  for _, step in ipairs(steps or {}) do
    local counter, sample, limit = step[1], step[2], step[3]
    for _, hit in ipairs(expand(entity, counter)) do
      if sample <= (tonumber(get_at(entity, bind(limit, hit.keys))) or 0) then
        local node, leaf = at_path(entity, hit.path)
        node[leaf] = (tonumber(node[leaf]) or 0) + 1
      end
    end
  end
end

local function apply_incr(entity, steps)
  for _, step in ipairs(steps or {}) do
    for _, hit in ipairs(expand(entity, step[1])) do
      local node, leaf = at_path(entity, hit.path)
      node[leaf] = (tonumber(node[leaf]) or 0) + step[2]
    end
  end
end

local function apply_maximum(entity, steps)
  for _, step in ipairs(steps or {}) do
    for _, hit in ipairs(expand(entity, step[1])) do
      local node, leaf = at_path(entity, hit.path)
      local current = tonumber(node[leaf])
      if current == nil or step[2] > current then
        node[leaf] = step[2]
      end
    end
  end
end

local function apply_copy(entity, steps)
  for _, step in ipairs(steps or {}) do
    local source, target, add = step[1], step[2], step[3]
    for _, hit in ipairs(expand(entity, source)) do
      local value = get_at(entity, hit.path)
      local bound = bind(target, hit.keys)
      if type(value) == "number" then
        local node, leaf = at_path(entity, bound)
        node[leaf] = value + add
      else
        remove_at(entity, bound)
      end
    end
  end
end

local function apply_fold(entity, steps)
  for _, step in ipairs(steps or {}) do
    local source, target = step[1], step[2]
    for _, hit in ipairs(expand(entity, source)) do
      local value = get_at(entity, hit.path)
      if type(value) == "number" then
        local bound = bind(target, hit.keys)
        local parent = {}
        for i = 1, #bound - 1 do
          parent[i] = bound[i]
        end
        -- Settled only where the target's object still exists: never half an entry.
        if type(get_at(entity, parent)) == "table" then
          local node, leaf = at_path(entity, bound)
          local current = tonumber(node[leaf])
          if current == nil or value > current then
            node[leaf] = value
          end
        end
        remove_at(entity, hit.path)
      end
    end
  end
end

local function apply_shift(entity, steps)
  for _, step in ipairs(steps or {}) do
    local collection_path, field, at_least, amount = step[1], step[2], step[3], step[4]
    for _, hit in ipairs(expand(entity, collection_path)) do
      local collection = get_at(entity, hit.path)
      if type(collection) == "table" then
        for _, child in pairs(collection) do
          if type(child) == "table" then
            local value = tonumber(child[field])
            if value ~= nil and value >= at_least then
              child[field] = value + amount
            end
          end
        end
      end
    end
  end
end

local changes = {}

local function record(kind, op, id, data)
  local version = redis.call("INCR", VERSION)
  changes[#changes + 1] = {version = version, kind = kind, op = op, id = id, data = data}
  return version
end

-- The entity's internal fields as stored apart: (raw JSON, decoded), or nil.
local function load_internal(kind, id)
  if STAGED[kind] == nil then
    return nil, nil
  end
  local raw = redis.call("HGET", STAGED[kind], id)
  if raw then
    return raw, cjson.decode(raw)
  end
  return nil, nil
end

-- Takes the internal fields out of `entity`; stores them apart when they changed.
local function store_internal(kind, id, entity, old_raw)
  if INTERNAL[kind] == nil then
    return
  end
  local internal, any = {}, false
  for _, name in ipairs(INTERNAL[kind]) do
    if entity[name] ~= nil then
      internal[name] = entity[name]
      entity[name] = nil
      any = true
    end
  end
  if any then
    local raw = encode(internal)
    if raw ~= old_raw then
      redis.call("HSET", STAGED[kind], id, raw)
    end
  elseif old_raw then
    redis.call("HDEL", STAGED[kind], id)
  end
end

local function remove(kind, id)
  local key = prefix .. ENTITY[kind] .. id
  -- Written in this batch but not stored yet: it existed all the same.
  local pending = dirty[key] ~= nil
  dirty[key] = nil
  entities[key] = false
  local existed = redis.call("DEL", key)
  if pending then
    existed = 1
  end
  redis.call("SREM", prefix .. INDEX[kind], id)
  if STAGED[kind] ~= nil then
    redis.call("HDEL", STAGED[kind], id)
  end
  if kind == "queue" then
    queue_cache[id] = nil
  end
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
  elseif p["if"] ~= nil and not guard_holds(p["if"]) then
    -- The guard does not hold: the patch does not apply.
  elseif p.del then
    remove(p.k, p.i)
  else
    local kind, id = p.k, p.i
    local key = prefix .. ENTITY[kind] .. id
    local old = load_key(key)
    if old ~= nil or p.new ~= false then
      local entity
      if p.rep then
        entity = {}
      else
        entity = copy(old or {})
      end
      local internal_raw, internal = load_internal(kind, id)
      if internal ~= nil then
        for name, value in pairs(internal) do
          entity[name] = value
        end
      end
      apply_shift(entity, p.sh)
      entity = merge(entity, p.s or {})
      if p.rep and old ~= nil and old.statusSince ~= nil and entity.statusSince == nil then
        entity.statusSince = old.statusSince
      end
      apply_smooth(entity, p.sm)
      apply_count_within(entity, p.cw)
      apply_incr(entity, p.inc)
      apply_maximum(entity, p.max)
      apply_copy(entity, p.cp)
      apply_fold(entity, p.fd)
      NORMALIZE[kind](entity, id, old)
      store_internal(kind, id, entity, internal_raw)
      if old == nil or not equal(entity, old, true) then
        entity.updatedAt = now
        entity.version = record(kind, "upsert", id, entity)
        -- Never changed again: later patches of the batch start from a copy of it.
        entities[key] = entity
        dirty[key] = true
        redis.call("SADD", prefix .. INDEX[kind], id)
      end
    end
  end
end

for key, _ in pairs(dirty) do
  -- cjson escapes every "/" as "\/"; stored without it, the value is what orjson
  -- would write, so reads can forward it untouched (see canonical_array in store.py).
  redis.call("SET", key, (string.gsub(encode(entities[key]), "\\/", "/")))
end
if writer_mark ~= nil then
  redis.call("SET", writer_mark, writer_seq, "EX", 86400)
end
if #changes == 0 then
  return "[]"
end
local encoded = encode(changes)
redis.call(PUBLISH, CHANNEL, encoded)
if want_changes then
  return encoded
end
return "[]"
