"""The Lua scripts of the Redis store: each runs atomically inside Redis, so replicas never interleave.

Data model (every key under one `{prefix}` hash tag, so a Redis Cluster keeps them in one slot):
- `{p}:events`: a stream; entry id `<seq>-0` (seq from `INCR {p}:seq`), fields id, source, at, body.
- one consumer group per endpoint on that stream: its pending-entries list (PEL) is every delivery the
  endpoint has not had yet (in flight, waiting for a retry, or dead-lettered); XACK means delivered.
- `{p}:due:<endpoint>`: sorted set seq -> when it may next be handed out: the retry time, or, while a
  worker holds it, the end of that worker's lease (a killed replica's deliveries come due again).
- `{p}:attempts:<endpoint>`: hash seq -> attempts so far.
- `{p}:dead:<endpoint>` (sorted set seq -> seq) and `{p}:deadinfo:<endpoint>` (hash seq -> JSON).
- `{p}:disabled`: hash endpoint -> JSON reason (410); `{p}:dedup:<key>`: a key with the window as TTL.
Stream entries are read positionally: fields[6] is `at` (Lua arrays start at 1).
"""

from __future__ import annotations

SCRIPTS = ("APPEND", "CLAIM", "OUTCOME", "DISABLE", "REPLAY", "GAUGES", "PURGE")

# KEYS: events, seq, dedup key. ARGV: window ms ('' = no de-duplication), id, source, at, body.
APPEND = """
if ARGV[1] ~= '' then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return false end
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], seq .. '-0', 'id', ARGV[2], 'source', ARGV[3], 'at', ARGV[4], 'body', ARGV[5])
return seq
"""

# KEYS: events, due, attempts. ARGV: group, consumer, now, lease end, limit.
# Returns {{seq, attempts, fields}, ...}: due retries and expired leases first, then new entries.
CLAIM = """
local out = {}
local limit = tonumber(ARGV[5])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, limit)
for _, seq in ipairs(due) do
  local e = redis.call('XRANGE', KEYS[1], seq .. '-0', seq .. '-0')
  if #e == 1 then
    redis.call('ZADD', KEYS[2], ARGV[4], seq)
    out[#out + 1] = {seq, redis.call('HGET', KEYS[3], seq) or '0', e[1][2]}
  else
    redis.call('ZREM', KEYS[2], seq)
  end
end
local room = limit - #due
if room > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', room, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do
      local seq = string.match(e[1], '^(%d+)-')
      redis.call('ZADD', KEYS[2], ARGV[4], seq)
      out[#out + 1] = {seq, '0', e[2]}
    end
  end
end
return out
"""

# KEYS: events, due, attempts, dead, deadinfo. ARGV: group, seq, state (1 delivered, 0 pending, 2 dead),
# attempts, next_at, dead-letter JSON. Ignored when the delivery is no longer pending (another replica
# whose lease outlived ours delivered it meanwhile).
OUTCOME = """
local id = ARGV[2] .. '-0'
if #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1) == 0 then return 0 end
if ARGV[3] == '1' then
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
elseif ARGV[3] == '0' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[2])
  redis.call('HSET', KEYS[5], ARGV[2], ARGV[6])
end
return 1
"""

# KEYS: due, attempts, dead, deadinfo, disabled. ARGV: endpoint, reason JSON, now, error.
# Dead-letters everything handed out or waiting for a retry; entries never read stay unread until a
# replay re-enables the endpoint. Returns how many were dead-lettered.
DISABLE = """
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
local seqs = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, seq in ipairs(seqs) do
  local attempts = tonumber(redis.call('HGET', KEYS[2], seq) or '0')
  redis.call('ZADD', KEYS[3], seq, seq)
  redis.call('HSET', KEYS[4], seq,
    cjson.encode({attempts = attempts, updated_at = tonumber(ARGV[3]), error = ARGV[4]}))
end
redis.call('DEL', KEYS[1], KEYS[2])
return #seqs
"""

# KEYS: due, attempts, dead, deadinfo, disabled. ARGV: endpoint, now, seq... (empty: every dead letter).
# Puts dead letters back as due now with a fresh attempt budget and re-enables the endpoint.
REPLAY = """
local seqs = {}
if #ARGV > 2 then
  for i = 3, #ARGV do seqs[#seqs + 1] = ARGV[i] end
else
  seqs = redis.call('ZRANGE', KEYS[3], 0, -1)
end
local n = 0
for _, seq in ipairs(seqs) do
  if redis.call('ZREM', KEYS[3], seq) == 1 then
    redis.call('HDEL', KEYS[4], seq)
    redis.call('HDEL', KEYS[2], seq)
    redis.call('ZADD', KEYS[1], ARGV[2], seq)
    n = n + 1
  end
end
redis.call('HDEL', KEYS[5], ARGV[1])
return n
"""

# KEYS: events, dead. ARGV: group. Returns {undelivered (excluding dead), dead, seq of the oldest
# undelivered or false}: the PEL minus dead letters, plus entries the group has not read yet.
GAUGES = """
local dead = redis.call('ZCARD', KEYS[2])
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local pending = summary[1] - dead
local oldest = false
if pending > 0 then
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 64)) do
    local seq = string.match(p[1], '^(%d+)-')
    if not redis.call('ZSCORE', KEYS[2], seq) then oldest = seq break end
  end
end
local last, lag = '0-0', false
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then last, lag = info['last-delivered-id'], info['lag'] end
end
local first = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)
if #first > 0 then
  -- lag is null when Redis cannot tell (after deletions): count, up to a bound
  if not lag then lag = #redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 100000) end
  pending = pending + lag
  if not oldest then oldest = string.match(first[1][1], '^(%d+)-') end
end
return {pending, dead, oldest}
"""

# KEYS: events. ARGV: cutoff time, limit, group... Deletes up to `limit` of the oldest entries received
# before the cutoff and below everything any group still needs (pending, dead or unread). Returns how many.
PURGE = """
local floor = nil
local function lower(id)
  local seq = tonumber(string.match(id, '^(%d+)-'))
  if floor == nil or seq < floor then floor = seq end
end
local wanted = {}
for i = 3, #ARGV do wanted[ARGV[i]] = true end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if wanted[info['name']] then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    if summary[1] > 0 then lower(summary[2]) end
    local nxt = redis.call('XRANGE', KEYS[1], '(' .. info['last-delivered-id'], '+', 'COUNT', 1)
    if #nxt == 1 then lower(nxt[1][1]) end
  end
end
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[2]))
local n = 0
local keep = nil
for _, e in ipairs(entries) do
  local seq = tonumber(string.match(e[1], '^(%d+)-'))
  if tonumber(e[2][6]) >= tonumber(ARGV[1]) or (floor ~= nil and seq >= floor) then keep = seq break end
  n = n + 1
end
if n == 0 then return 0 end
if keep == nil then keep = tonumber(string.match(entries[n][1], '^(%d+)-')) + 1 end
return redis.call('XTRIM', KEYS[1], 'MINID', keep .. '-0')
"""
