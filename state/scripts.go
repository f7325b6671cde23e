package state

import "github.com/redis/go-redis/v9"

// writeLua applies a group of lead updates whose keys share one hash slot
// (in Redis Cluster) or any keys (standalone, Sentinel). It pays the script
// overhead once per group, not once per lead. For each lead it compares the
// stored record's version prefix with the expected one and, only when they
// match, writes the record (which carries the lead's deadline, stage and
// rank), tightens the bucket's summaries and runs the lead's identity index
// operations. A script never stops half-way for lack of memory once it has
// written (Redis checks OOM before the first write only), so each lead's
// update applies whole or not at all.
//
// KEYS[1] routes the call to the slot's node; the other keys are in ARGV.
// ARGV[1] is the number of leads; then per lead:
//
//	record-key lead expected-version-prefix new-record t nb (bf bv)... n op...
//
// t is the deadline in unix seconds ("" for none): the bucket's "~t" is
// lowered to it if later. Then nb leaderboard summaries: bf is a stage's
// summary field ("~b<id>") and bv the 16-digit biased rank: bf is raised to
// it if lower. Then n identity ops: 'H' key field (HSET key field lead) or 'D' key field
// (HDEL key field). Returns per lead 1 when written, else the first 10
// bytes of the stored record (its version) or 0 when there is none.
var writeLua = redis.NewScript(writeSrc)

const writeSrc = `
local out = {}
local p = 2
for i = 1, tonumber(ARGV[1]) do
  local rk, id, exp, rec, t, nb = ARGV[p], ARGV[p+1], ARGV[p+2], ARGV[p+3], ARGV[p+4], tonumber(ARGV[p+5])
  local bs = p + 6
  local bf, bv = '', ''
  if nb > 0 then bf, bv = ARGV[bs], ARGV[bs+1] end
  p = bs + 2 * nb
  local n = tonumber(ARGV[p])
  p = p + 1
  local r = redis.call('HMGET', rk, id, '~t', bf == '' and '~t' or bf)
  local cur = r[1]
  local ok
  if cur then ok = exp ~= '' and string.sub(cur, 1, #exp) == exp else ok = exp == '' end
  if ok then
    local st = t ~= '' and (not r[2] or tonumber(t) < tonumber(r[2]))
    local sb = bf ~= '' and (not r[3] or tonumber(bv) > tonumber(r[3]))
    if st and sb then redis.call('HSET', rk, id, rec, '~t', t, bf, bv)
    elseif st then redis.call('HSET', rk, id, rec, '~t', t)
    elseif sb then redis.call('HSET', rk, id, rec, bf, bv)
    else redis.call('HSET', rk, id, rec) end
    for j = 1, nb - 1 do
      local f, v = ARGV[bs+2*j], ARGV[bs+2*j+1]
      local m = redis.call('HGET', rk, f)
      if not m or tonumber(v) > tonumber(m) then redis.call('HSET', rk, f, v) end
    end
    for j = 1, n do
      if ARGV[p] == 'H' then redis.call('HSET', ARGV[p+1], ARGV[p+2], id) else redis.call('HDEL', ARGV[p+1], ARGV[p+2]) end
      p = p + 3
    end
    out[i] = 1
  else
    p = p + 3 * n
    if cur then out[i] = string.sub(cur, 1, 10) else out[i] = 0 end
  end
end
return out
`

// recordHeaderLua decodes, in Lua, the fixed part of an encoded record:
// deadline (unix s), stage id, rank units (nil without a stage), the
// position of the deadline bytes, and the position after the rank; nil for
// a value too short to be a record. boardRank finds a stage's rank among
// the record's further boards (flag bit 2), starting at that position.
const recordHeaderLua = `
local function uvar(v, q)
  local x, mul = 0, 1
  local c = string.byte(v, q)
  while c >= 128 do x = x + (c - 128) * mul; mul = mul * 128; q = q + 1; c = string.byte(v, q) end
  return x + c * mul, q + 1
end
local function unzig(z)
  if z % 2 == 0 then return z / 2 end
  return -(z + 1) / 2
end
local function header(v)
  local pos = 1
  while (string.byte(v, pos) or 0) >= 128 do pos = pos + 1 end
  pos = pos + 2
  if #v < pos + 4 then return nil end
  local b1, b2, b3, b4 = string.byte(v, pos, pos + 3)
  local d = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  local stage, q = uvar(v, pos + 4)
  local rank = nil
  if stage ~= 0 then
    local z
    z, q = uvar(v, q)
    rank = unzig(z)
  end
  return d, stage, rank, pos, q
end
local function boardRank(v, pos, q, sid)
  local flags = string.byte(v, pos - 1)
  if math.floor(flags / 4) % 2 == 0 then return nil end
  local n
  n, q = uvar(v, q)
  for _ = 1, n do
    local st, z
    st, q = uvar(v, q)
    z, q = uvar(v, q)
    if st == sid then return unzig(z) end
  end
  return nil
end
`

// claimLua claims due timers of one shard. KEYS are the shard's record
// buckets; ARGV: now (unix s), lease end (unix s), limit, lease end as 4
// big-endian bytes. It visits only buckets whose "~t" is due, claims the due
// records there by setting their deadline to the lease end (so a
// concurrent sweeper cannot claim them, and a crashed sweeper's claim comes
// due again; the record's version is unchanged, so the next write of the
// lead re-arms its timer), and recomputes "~t". Returns lead, due, ...
var claimLua = redis.NewScript(recordHeaderLua + `
local now, till, limit, tillb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local out, n = {}, 0
for i = 1, #KEYS do
  local tm = redis.call('HGET', KEYS[i], '~t')
  if tm and tonumber(tm) <= now then
    local all = redis.call('HGETALL', KEYS[i])
    local low = nil
    for j = 1, #all, 2 do
      local f, v = all[j], all[j+1]
      if string.byte(f, 1) ~= 126 then
        local d, _, _, pos = header(v)
        if d and d ~= 0 then
          if d <= now and n < limit then
            redis.call('HSET', KEYS[i], f, string.sub(v, 1, pos - 1) .. tillb .. string.sub(v, pos + 4))
            out[#out+1] = f
            out[#out+1] = string.format('%d', d)
            n = n + 1
            d = till
          end
          if not low or d < low then low = d end
        end
      end
    end
    if low then redis.call('HSET', KEYS[i], '~t', low) else redis.call('HDEL', KEYS[i], '~t') end
    if n >= limit then break end
  end
end
return out
`)

// topLua returns the best entries of one stage's leaderboard among the
// record buckets of one shard (KEYS). ARGV: summary field "~b<id>", stage
// id, limit. It visits buckets in decreasing order of their summary and
// stops when no unvisited bucket can beat the current limit-th entry;
// visiting a bucket repairs its summary. It returns the best limit entries
// plus every entry tied with the last one (the caller orders ties), as
// lead, biased rank, lead, biased rank...
var topLua = redis.NewScript(recordHeaderLua + `
local bf, sid, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local bias = 2251799813685248
local cands = {}
for i = 1, #KEYS do
  local m = redis.call('HGET', KEYS[i], bf)
  if m then cands[#cands+1] = {i, tonumber(m)} end
end
table.sort(cands, function(a, b) return a[2] > b[2] end)
local best = {}
local function cut()
  table.sort(best, function(a, b) return a[2] > b[2] end)
  if #best > limit then
    local k = limit
    while k < #best and best[k+1][2] == best[limit][2] do k = k + 1 end
    local kept = {}
    for j = 1, k do kept[j] = best[j] end
    best = kept
  end
end
for _, c in ipairs(cands) do
  if #best >= limit and c[2] < best[limit][2] then break end
  local all = redis.call('HGETALL', KEYS[c[1]])
  local top = nil
  for j = 1, #all, 2 do
    local f = all[j]
    if string.byte(f, 1) ~= 126 then
      local v = all[j+1]
      local _, stage, rank, pos, q = header(v)
      if stage ~= sid and pos then rank = boardRank(v, pos, q, sid) end
      if rank then
        local v = rank + bias
        best[#best+1] = {f, v}
        if not top or v > top then top = v end
      end
    end
  end
  if not top then redis.call('HDEL', KEYS[c[1]], bf)
  elseif top ~= c[2] then redis.call('HSET', KEYS[c[1]], bf, string.format('%016d', top)) end
  cut()
end
local out = {}
for _, e in ipairs(best) do
  out[#out+1] = e[1]
  out[#out+1] = string.format('%d', e[2])
end
return out
`)

// eraseLua deletes a lead's record and returns it, or false. The bucket's
// summaries may then be loose bounds, which the sweeps repair.
var eraseLua = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return cur
`)

// unindexLua removes an identity entry only if it still points at the lead.
var unindexLua = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`)

// metaLua records the layout on first use and returns the meta hash.
var metaLua = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'layout', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 't#', 0, 's#', 0)
end
return redis.call('HGETALL', KEYS[1])
`)

// dictLua assigns dictionary ids: ARGV[1] is the kind ('t' topic, 's'
// stage), the rest are names. Ids are never reused or changed.
var dictLua = redis.NewScript(`
local out = {}
for i = 2, #ARGV do
  local f = ARGV[1] .. ':' .. ARGV[i]
  local id = redis.call('HGET', KEYS[1], f)
  if not id then
    id = redis.call('HINCRBY', KEYS[1], ARGV[1] .. '#', 1)
    redis.call('HSET', KEYS[1], f, id, ARGV[1] .. '@' .. id, ARGV[i])
  end
  out[#out+1] = tonumber(id)
end
return out
`)

var allScripts = []*redis.Script{writeLua, claimLua, topLua, eraseLua, unindexLua, metaLua, dictLua, epochLua, namesLua}
