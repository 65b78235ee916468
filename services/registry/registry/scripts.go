package registry

import "github.com/redis/go-redis/v9"

// Every script gets the same keys, all under the "{registry}" hash tag so
// that one script may touch them together in Redis Cluster:
//
//	KEYS[1]  leases     ZSET   provider name -> lease expiry (Unix ms)
//	KEYS[2]  providers  HASH   provider name -> provider record (JSON)
//	KEYS[3]  index      ZSET   exposed tool name, score 0 (ZRANGEBYLEX order)
//	KEYS[4]  defs       HASH   exposed tool name -> CatalogTool (protobuf)
//	KEYS[5]  owners     HASH   exposed tool name -> provider name
//	KEYS[6]  revision   STRING catalogue revision, INCR on every change
//	KEYS[7]  to KEYS[9]  the same index, defs and owners for resources (by URI)
//	KEYS[10] to KEYS[12] the same for resource templates (by URI template)
//	KEYS[13] to KEYS[15] the same for prompts (by exposed name)
//
// Each kind of entry is kept in an (index, defs, owners) triple whose
// first key is the kind's base: 3, 7, 10 or 13. Scripts that handle one
// kind take the base as an argument.
//
// Time comes from Redis (TIME), not from the replica that runs the
// script, so that registry replicas with skewed clocks agree on which
// leases are live. A lease is live while its expiry is after now.
//
// Scripts that change the catalogue return a mask of the kinds they
// changed (tools 1, resources 2, templates 4, prompts 8), so that the
// replica can tell sessions which lists changed.
const luaPrelude = `
-- kinds lists the catalogue kinds: the provider record's member naming
-- its entries, the base of the kind's key triple and the kind's bit.
local kinds = {
  {field = 'tools', base = 3, bit = 1},
  {field = 'resources', base = 7, bit = 2},
  {field = 'templates', base = 10, bit = 4},
  {field = 'prompts', base = 13, bit = 8},
}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- ms formats a millisecond count without exponent notation.
local function ms(n)
  return string.format('%.0f', n)
end

-- owned returns the keys of one kind that a decoded record lists; records
-- written before the kind existed lack the member.
local function owned(r, k)
  local list = r[k.field]
  if type(list) ~= 'table' then
    return {}
  end
  return list
end

-- drop removes a provider, its lease and the entries it still owns, and
-- returns the mask of the kinds it removed entries of.
local function drop(name)
  local mask = 0
  local rec = redis.call('HGET', KEYS[2], name)
  if rec then
    local r = cjson.decode(rec)
    for _, k in ipairs(kinds) do
      for _, key in ipairs(owned(r, k)) do
        if redis.call('HGET', KEYS[k.base + 2], key) == name then
          redis.call('ZREM', KEYS[k.base], key)
          redis.call('HDEL', KEYS[k.base + 1], key)
          redis.call('HDEL', KEYS[k.base + 2], key)
          mask = bit.bor(mask, k.bit)
        end
      end
    end
    redis.call('HDEL', KEYS[2], name)
  end
  redis.call('ZREM', KEYS[1], name)
  return mask
end

-- purge drops every provider whose lease lapsed and returns their names
-- and the mask of the kinds that changed.
local function purge(now)
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms(now))
  local mask = 0
  for _, name in ipairs(lapsed) do
    mask = bit.bor(mask, drop(name))
  end
  if #lapsed > 0 then
    redis.call('INCR', KEYS[6])
  end
  return lapsed, mask
end

-- lease_ok tells whether name holds the lease whose hash is given.
local function lease_ok(name, lease_hash)
  local rec = redis.call('HGET', KEYS[2], name)
  if not rec then
    return nil
  end
  local r = cjson.decode(rec)
  if r.lease_hash ~= lease_hash then
    return nil
  end
  return r
end

-- live tells whether provider name holds a lease that has not lapsed.
local function live(name, now)
  local expiry = redis.call('ZSCORE', KEYS[1], name)
  return expiry ~= false and expiry ~= nil and tonumber(expiry) > now
end
`

// registerScript purges lapsed providers, refuses the registration when
// an exposed name, URI or URI template belongs to another provider, and
// otherwise replaces the provider's record and entries in one step.
//
// ARGV: name, record, ttl_ms, the number of tools, resources, templates
// and prompts, then (key, definition) pairs of each kind in that order.
// Returns {1, expiry, revision, purged, mask} or {0, kind, key, owner,
// owner's definition, purged, mask}. The mask covers the lapsed providers
// and the kinds whose entries of this provider differ from before.
var registerScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local purged, mask = purge(now)
local name = ARGV[1]
local first = 8
for i, k in ipairs(kinds) do
  k.first, k.count = first, tonumber(ARGV[3 + i])
  first = first + 2 * k.count
end

for _, k in ipairs(kinds) do
  for i = k.first, k.first + 2 * k.count - 1, 2 do
    local owner = redis.call('HGET', KEYS[k.base + 2], ARGV[i])
    if owner and owner ~= name then
      local def = redis.call('HGET', KEYS[k.base + 1], ARGV[i]) or ''
      return {0, k.field, ARGV[i], owner, def, purged, mask}
    end
  end
end

-- A kind changed when its entries of this provider differ in any key or
-- definition from the ones it owned before.
local old = redis.call('HGET', KEYS[2], name)
local r = old and cjson.decode(old) or {}
for _, k in ipairs(kinds) do
  local before = {}
  for _, key in ipairs(owned(r, k)) do
    if redis.call('HGET', KEYS[k.base + 2], key) == name then
      before[key] = redis.call('HGET', KEYS[k.base + 1], key)
    end
  end
  local changed = false
  for i = k.first, k.first + 2 * k.count - 1, 2 do
    if before[ARGV[i]] ~= ARGV[i + 1] then
      changed = true
    end
    before[ARGV[i]] = nil
  end
  if changed or next(before) ~= nil then
    mask = bit.bor(mask, k.bit)
  end
end

drop(name)
for _, k in ipairs(kinds) do
  for i = k.first, k.first + 2 * k.count - 1, 2 do
    redis.call('ZADD', KEYS[k.base], 0, ARGV[i])
    redis.call('HSET', KEYS[k.base + 1], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[k.base + 2], ARGV[i], name)
  end
end
redis.call('HSET', KEYS[2], name, ARGV[2])
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ms(expiry), name)
local rev = redis.call('INCR', KEYS[6])
return {1, expiry, rev, purged, mask}
`)

// renewScript extends a live lease by the provider's granted length.
//
// ARGV: name, lease hash. Returns {1, expiry, purged, mask} or
// {0, purged, mask}.
var renewScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local purged, mask = purge(now)
local r = lease_ok(ARGV[1], ARGV[2])
if not r then
  return {0, purged, mask}
end
local expiry = now + r.ttl_ms
redis.call('ZADD', KEYS[1], ms(expiry), ARGV[1])
return {1, expiry, purged, mask}
`)

// deregisterScript drops a provider that holds a live lease.
//
// ARGV: name, lease hash. Returns {1, purged, mask} or {0, purged, mask}.
var deregisterScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local purged, mask = purge(now)
if not lease_ok(ARGV[1], ARGV[2]) then
  return {0, purged, mask}
end
mask = bit.bor(mask, drop(ARGV[1]))
redis.call('INCR', KEYS[6])
return {1, purged, mask}
`)

// reapScript drops every provider whose lease lapsed. Replicas may run it
// at the same time: each lapsed provider is dropped, and reported, once.
//
// Returns {names of the dropped providers, mask}.
var reapScript = redis.NewScript(luaPrelude + `
local purged, mask = purge(now_ms())
return {purged, mask}
`)

// leaseScript tells whether a provider holds a live lease.
//
// ARGV: name, lease hash. Returns 1 or 0.
var leaseScript = redis.NewScript(luaPrelude + `
if lease_ok(ARGV[1], ARGV[2]) and live(ARGV[1], now_ms()) then
  return 1
end
return 0
`)

// providersScript lists the live providers.
//
// Returns a flat list of (expiry, record) pairs.
var providersScript = redis.NewScript(luaPrelude + `
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ms(now_ms()), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local rec = redis.call('HGET', KEYS[2], live[i])
  if rec then
    out[#out + 1] = live[i + 1]
    out[#out + 1] = rec
  end
end
return out
`)

// listScript reads up to ARGV[3] live definitions of the kind whose key
// base is ARGV[1], in key order, starting at the ZRANGEBYLEX bound
// ARGV[2]. Entries of lapsed providers that no reaper removed yet are
// skipped.
var listScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local base, start, want = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local alive, out = {}, {}
while #out < want do
  local names = redis.call('ZRANGEBYLEX', KEYS[base], start, '+', 'LIMIT', 0, want - #out)
  if #names == 0 then
    break
  end
  local owners = redis.call('HMGET', KEYS[base + 2], unpack(names))
  local keep = {}
  for i, name in ipairs(names) do
    local owner = owners[i]
    if owner then
      if alive[owner] == nil then
        alive[owner] = live(owner, now)
      end
      if alive[owner] then
        keep[#keep + 1] = name
      end
    end
  end
  if #keep > 0 then
    local defs = redis.call('HMGET', KEYS[base + 1], unpack(keep))
    for i = 1, #keep do
      if defs[i] then
        out[#out + 1] = defs[i]
      end
    end
  end
  start = '(' .. names[#names]
end
return out
`)

// lookupScript finds the live owner of one entry of the kind whose key
// base is ARGV[1].
//
// ARGV: base, key. Returns {definition, owner's record} or nil.
var lookupScript = redis.NewScript(luaPrelude + `
local base = tonumber(ARGV[1])
local owner = redis.call('HGET', KEYS[base + 2], ARGV[2])
if not owner or not live(owner, now_ms()) then
  return nil
end
local def = redis.call('HGET', KEYS[base + 1], ARGV[2])
local rec = redis.call('HGET', KEYS[2], owner)
if not def or not rec then
  return nil
end
return {def, rec}
`)
