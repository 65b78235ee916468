package registry

import "github.com/redis/go-redis/v9"

// Every script gets the same keys, all under the "{registry}" hash tag so
// that one script may touch them together in Redis Cluster:
//
//	KEYS[1] leases     ZSET  provider name -> lease expiry (Unix ms)
//	KEYS[2] providers  HASH  provider name -> provider record (JSON)
//	KEYS[3] index      ZSET  exposed tool name, score 0 (ZRANGEBYLEX order)
//	KEYS[4] defs       HASH  exposed tool name -> CatalogTool (protobuf)
//	KEYS[5] owners     HASH  exposed tool name -> provider name
//	KEYS[6] revision   STRING catalogue revision, INCR on every change
//
// Time comes from Redis (TIME), not from the replica that runs the
// script, so that registry replicas with skewed clocks agree on which
// leases are live. A lease is live while its expiry is after now.
const luaPrelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- ms formats a millisecond count without exponent notation.
local function ms(n)
  return string.format('%.0f', n)
end

-- drop removes a provider, its lease and the tools it still owns.
local function drop(name)
  local rec = redis.call('HGET', KEYS[2], name)
  if rec then
    for _, tool in ipairs(cjson.decode(rec).tools) do
      if redis.call('HGET', KEYS[5], tool) == name then
        redis.call('ZREM', KEYS[3], tool)
        redis.call('HDEL', KEYS[4], tool)
        redis.call('HDEL', KEYS[5], tool)
      end
    end
    redis.call('HDEL', KEYS[2], name)
  end
  redis.call('ZREM', KEYS[1], name)
end

-- purge drops every provider whose lease lapsed and returns their names.
local function purge(now)
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms(now))
  for _, name in ipairs(lapsed) do
    drop(name)
  end
  if #lapsed > 0 then
    redis.call('INCR', KEYS[6])
  end
  return lapsed
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
`

// registerScript purges lapsed providers, refuses the registration when
// an exposed name belongs to another provider, and otherwise replaces the
// provider's record and tools in one step.
//
// ARGV: name, record, ttl_ms, then (exposed name, definition) pairs.
// Returns {1, expiry, revision, purged} or {0, exposed, owner, owner's
// definition, purged}.
var registerScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local purged = purge(now)
local name = ARGV[1]
for i = 4, #ARGV, 2 do
  local owner = redis.call('HGET', KEYS[5], ARGV[i])
  if owner and owner ~= name then
    local def = redis.call('HGET', KEYS[4], ARGV[i]) or ''
    return {0, ARGV[i], owner, def, purged}
  end
end
drop(name)
for i = 4, #ARGV, 2 do
  redis.call('ZADD', KEYS[3], 0, ARGV[i])
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[5], ARGV[i], name)
end
redis.call('HSET', KEYS[2], name, ARGV[2])
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ms(expiry), name)
local rev = redis.call('INCR', KEYS[6])
return {1, expiry, rev, purged}
`)

// renewScript extends a live lease by the provider's granted length.
//
// ARGV: name, lease hash. Returns {1, expiry, purged} or {0, purged}.
var renewScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local purged = purge(now)
local r = lease_ok(ARGV[1], ARGV[2])
if not r then
  return {0, purged}
end
local expiry = now + r.ttl_ms
redis.call('ZADD', KEYS[1], ms(expiry), ARGV[1])
return {1, expiry, purged}
`)

// deregisterScript drops a provider that holds a live lease.
//
// ARGV: name, lease hash. Returns {1, purged} or {0, purged}.
var deregisterScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local purged = purge(now)
if not lease_ok(ARGV[1], ARGV[2]) then
  return {0, purged}
end
drop(ARGV[1])
redis.call('INCR', KEYS[6])
return {1, purged}
`)

// reapScript drops every provider whose lease lapsed. Replicas may run it
// at the same time: each lapsed provider is dropped, and reported, once.
//
// Returns the names of the dropped providers.
var reapScript = redis.NewScript(luaPrelude + `
return purge(now_ms())
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

// toolsScript reads up to ARGV[2] live tool definitions in exposed-name
// order, starting at the ZRANGEBYLEX bound ARGV[1]. Tools of lapsed
// providers that no reaper removed yet are skipped.
var toolsScript = redis.NewScript(luaPrelude + `
local now = now_ms()
local start, want = ARGV[1], tonumber(ARGV[2])
local live, out = {}, {}
while #out < want do
  local names = redis.call('ZRANGEBYLEX', KEYS[3], start, '+', 'LIMIT', 0, want - #out)
  if #names == 0 then
    break
  end
  local owners = redis.call('HMGET', KEYS[5], unpack(names))
  local keep = {}
  for i, name in ipairs(names) do
    local owner = owners[i]
    if owner then
      if live[owner] == nil then
        local expiry = redis.call('ZSCORE', KEYS[1], owner)
        live[owner] = expiry and tonumber(expiry) > now or false
      end
      if live[owner] then
        keep[#keep + 1] = name
      end
    end
  end
  if #keep > 0 then
    local defs = redis.call('HMGET', KEYS[4], unpack(keep))
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

// lookupScript finds the live owner of an exposed tool name.
//
// ARGV: exposed name. Returns {definition, owner's record} or nil.
var lookupScript = redis.NewScript(luaPrelude + `
local owner = redis.call('HGET', KEYS[5], ARGV[1])
if not owner then
  return nil
end
local expiry = redis.call('ZSCORE', KEYS[1], owner)
if not expiry or tonumber(expiry) <= now_ms() then
  return nil
end
local def = redis.call('HGET', KEYS[4], ARGV[1])
local rec = redis.call('HGET', KEYS[2], owner)
if not def or not rec then
  return nil
end
return {def, rec}
`)
