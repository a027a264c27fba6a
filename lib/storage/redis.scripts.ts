import type { Cluster, Redis } from 'ioredis';

/**
 * Lua scripts of the Redis storage, over the key layout of
 * redis.key-layout.ts. All keys of one data source share its hash tag (one
 * slot on a cluster), so a claim, an ack, a split, a dead-letter retry or
 * the stats cover every table of the data source in one atomic script,
 * fenced by the flush lease that lives in the same slot.
 */

/** Helpers every script shares. */
const COMMON = `
local function rpushAll(key, items, from)
  for i = from, #items, 5000 do
    redis.call('RPUSH', key, unpack(items, i, math.min(i + 4999, #items)))
  end
end
local function hsetAll(key, pairs)
  for i = 1, #pairs, 5000 do
    redis.call('HSET', key, unpack(pairs, i, math.min(i + 4999, #pairs)))
  end
end
local function fenced(lease, token)
  if redis.call('GET', lease) ~= token then
    return redis.error_reply('WBFENCED another flusher holds the lease now')
  end
end
local function indexInserts(ink, items, from)
  for i = from, #items do
    local item = items[i]
    if string.byte(item, 1) == 91 then
      local newline = string.find(item, '\\n', 1, true)
      redis.call('HSETNX', ink, string.sub(item, 1, newline - 1), item)
    end
  end
end
local function batchKey(P, id) return P .. ':b:' .. id end
local function sinceKey(P) return P .. ':since' end
local function oldestUnapplied(P, inflight)
  local oldest = nil
  local function note(value)
    value = tonumber(value)
    if value and (oldest == nil or value < oldest) then oldest = value end
  end
  for _, value in ipairs(redis.call('HVALS', sinceKey(P))) do note(value) end
  for _, id in ipairs(redis.call('LRANGE', inflight, 0, -1)) do
    note(redis.call('HGET', batchKey(P, id), 'since'))
  end
  return oldest
end
local function nowMs()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local function partKey(P, id, t, kind) return P .. ':b:' .. id .. ':' .. t .. ':' .. kind end
local function tableKey(P, t, kind) return P .. ':t:' .. t .. ':' .. kind end
local function deleteBatch(P, id)
  local meta = batchKey(P, id)
  local tables = redis.call('HGET', meta, 'tables')
  if tables then
    for _, t in ipairs(cjson.decode(tables)) do
      redis.call('DEL', partKey(P, id, t, 'ins'), partKey(P, id, t, 'cnt'), partKey(P, id, t, 'upd'), partKey(P, id, t, 'ink'))
    end
  end
  redis.call('DEL', meta)
end
local function readBatch(P, id)
  local tables = redis.call('HGET', batchKey(P, id), 'tables')
  local parts = {}
  if not tables then return parts end
  for _, t in ipairs(cjson.decode(tables)) do
    parts[#parts + 1] = t
    parts[#parts + 1] = redis.call('LRANGE', partKey(P, id, t, 'ins'), 0, -1)
    parts[#parts + 1] = redis.call('HGETALL', partKey(P, id, t, 'cnt'))
    parts[#parts + 1] = redis.call('HGETALL', partKey(P, id, t, 'upd'))
  end
  return parts
end
local function keepLetters(dead, ops, dropped, max, args, from)
  local kept = 0
  for i = from, #args, 3 do
    if redis.call('HEXISTS', dead, args[i]) == 1 or redis.call('HLEN', dead) < max then
      redis.call('HSET', dead, args[i], args[i + 1])
      redis.call('HSET', ops, args[i], args[i + 2])
      kept = kept + 1
    else
      redis.call('INCR', dropped)
    end
  end
  return kept
end
`;

/** Adds `deltas` (flat field/delta pairs) to a counter hash: HINCRBY unless a field holds a fraction. */
const ADD_DELTAS = `
local function addIntegers(cnt, pairs)
  for i = 1, #pairs, 2 do
    if type(redis.pcall('HINCRBY', cnt, pairs[i], pairs[i + 1])) == 'table' then
      redis.call('HINCRBYFLOAT', cnt, pairs[i], pairs[i + 1])
    end
  end
end
local function addOthers(cnt, pairs)
  for i = 1, #pairs, 2 do redis.call('HINCRBYFLOAT', cnt, pairs[i], pairs[i + 1]) end
end
local function setCells(cnt, upd, pairs)
  for i = 1, #pairs, 2 do
    redis.call('HSET', upd, pairs[i], pairs[i + 1])
    redis.call('HDEL', cnt, pairs[i])
  end
end
-- Merged (max/min) cells: field, value, rank ('' for NULL), rule. A pending
-- value is replaced only by one ranking past it; NULL replaces nothing; a
-- pending value without a rank (a dead letter buffered again) by anything.
local function mergeCells(upd, rnk, items)
  for i = 1, #items, 4 do
    local field, rank = items[i], tonumber(items[i + 2])
    local wins = true
    if redis.call('HEXISTS', upd, field) == 1 then
      local held = tonumber(redis.call('HGET', rnk, field))
      if rank == nil then wins = false
      elseif held ~= nil then
        if items[i + 3] == 'max' then wins = rank > held else wins = rank < held end
      end
    end
    if wins then
      redis.call('HSET', upd, field, items[i + 1])
      if rank == nil then redis.call('HDEL', rnk, field) else redis.call('HSET', rnk, field, items[i + 2]) end
    end
  end
end
`;

/** Checks the layout version. KEYS: format, tables. ARGV: version. Returns the version found. */
export const FORMAT_SCRIPT = `
local found = redis.call('GET', KEYS[1])
if found then return found end
-- Keys of the unversioned layout (0.1) use the same tables set.
if redis.call('EXISTS', KEYS[2]) == 1 then return '1' end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;

/**
 * Applies one group of coalesced writes to one table. KEYS: cnt, upd, ins,
 * tables, ink (the ranks of merged cells sit beside upd, in its slot). ARGV: table, sets, integer deltas, other deltas (each a
 * JSON array of alternating fields and values), merged sets (a JSON array
 * of field, value, rank, rule), then insert items.
 */
export const WRITE_SCRIPT = `${COMMON}${ADD_DELTAS}
setCells(KEYS[1], KEYS[2], cjson.decode(ARGV[2]))
addIntegers(KEYS[1], cjson.decode(ARGV[3]))
addOthers(KEYS[1], cjson.decode(ARGV[4]))
mergeCells(KEYS[2], string.sub(KEYS[2], 1, -4) .. 'rnk', cjson.decode(ARGV[5]))
rpushAll(KEYS[3], ARGV, 6)
indexInserts(KEYS[5], ARGV, 6)
redis.call('SADD', KEYS[4], ARGV[1])
-- P is the tables key without ':tables'.
redis.call('HSETNX', sinceKey(string.sub(KEYS[4], 1, -8)), ARGV[1], nowMs())
return 1
`;

/**
 * Moves pending entries of the data source into batch `id`: per table (in
 * name order) up to the remaining budget of inserts, and (only once the
 * table's inserts are all taken) all its pending counters and updates.
 * Only inserts spend the budget, so a batch that leaves a table behind
 * holds `maxRows` inserts and the flusher claims again.
 * A table with a limit of its own (ARGV[6]) spends that instead of the
 * budget the other tables share.
 * KEYS: lease, tables, inflight, epoch. ARGV: P, id, maxRows, token,
 * tables to claim (JSON array, or '' for all), limits of their own (JSON
 * object table → most inserts, or '' for none).
 * Returns table, inserts, counters, updates per claimed table.
 */
export const CLAIM_SCRIPT = `${COMMON}
local refused = fenced(KEYS[1], ARGV[4])
if refused then return refused end
local P, id, shared = ARGV[1], ARGV[2], tonumber(ARGV[3])
local only = nil
if ARGV[5] ~= '' then
  only = {}
  for _, t in ipairs(cjson.decode(ARGV[5])) do only[t] = true end
end
local limits = {}
if ARGV[6] ~= nil and ARGV[6] ~= '' then limits = cjson.decode(ARGV[6]) end
local names = redis.call('SMEMBERS', KEYS[2])
table.sort(names)
local out, claimed = {}, {}
local oldest = nil
for _, t in ipairs(names) do
  local own = limits[t]
  local budget = own or shared
  if budget > 0 and (only == nil or only[t]) then
    local since = tonumber(redis.call('HGET', sinceKey(P), t))
    local ins, cnt, upd = tableKey(P, t, 'ins'), tableKey(P, t, 'cnt'), tableKey(P, t, 'upd')
    local ink = tableKey(P, t, 'ink')
    local pending = redis.call('LLEN', ins)
    local rows, counters, updates = {}, {}, {}
    local took = math.min(pending, budget)
    if took > 0 then
      rows = redis.call('LRANGE', ins, 0, took - 1)
      -- Set once a partial claim unindexed a key: a later insert of it may still be pending, unindexed.
      local unindexed = tableKey(P, t, 'inx')
      if took == pending then
        redis.call('RENAME', ins, partKey(P, id, t, 'ins'))
        if redis.call('EXISTS', ink) == 1 then redis.call('RENAME', ink, partKey(P, id, t, 'ink')) end
        if redis.call('DEL', unindexed) == 1 then indexInserts(partKey(P, id, t, 'ink'), rows, 1) end
      else
        redis.call('LTRIM', ins, took, -1)
        rpushAll(partKey(P, id, t, 'ins'), rows, 1)
        indexInserts(partKey(P, id, t, 'ink'), rows, 1)
        -- A key whose indexed insert this claim takes leaves the pending index; a later
        -- insert of it still pending stays unindexed there, and the marker has the
        -- claim that takes the rest index its batch from its rows.
        for _, item in ipairs(rows) do
          if string.byte(item, 1) == 91 then
            local key = string.sub(item, 1, string.find(item, '\\n', 1, true) - 1)
            if redis.call('HGET', ink, key) == item then
              redis.call('HDEL', ink, key)
              redis.call('SET', unindexed, '1')
            end
          end
        end
      end
      if not own then shared = shared - took end
    end
    if took == pending then
      if redis.call('EXISTS', cnt) == 1 then
        counters = redis.call('HGETALL', cnt)
        redis.call('RENAME', cnt, partKey(P, id, t, 'cnt'))
      end
      if redis.call('EXISTS', upd) == 1 then
        updates = redis.call('HGETALL', upd)
        redis.call('RENAME', upd, partKey(P, id, t, 'upd'))
        redis.call('DEL', tableKey(P, t, 'rnk'))
      end
      redis.call('SREM', KEYS[2], t)
      redis.call('HDEL', sinceKey(P), t)
    end
    if took > 0 or #counters > 0 or #updates > 0 then
      -- A table claimed in part keeps its time: the age stays an upper bound.
      if since and (oldest == nil or since < oldest) then oldest = since end
      claimed[#claimed + 1] = t
      out[#out + 1] = t
      out[#out + 1] = rows
      out[#out + 1] = counters
      out[#out + 1] = updates
    end
  end
end
if #claimed == 0 then return out end
redis.call('HSET', batchKey(P, id), 'owner', ARGV[4], 'tables', cjson.encode(claimed), 'since', oldest or nowMs())
redis.call('RPUSH', KEYS[3], id)
redis.call('INCR', KEYS[4])
return out
`;

/**
 * The data source's in-flight batches, in order; with a token, they now
 * belong to it (fenced by the lease). KEYS: lease, inflight. ARGV: P,
 * token or ''. Returns id and parts (as CLAIM returns them) per batch.
 */
export const IN_FLIGHT_SCRIPT = `${COMMON}
if ARGV[2] ~= '' then
  local refused = fenced(KEYS[1], ARGV[2])
  if refused then return refused end
end
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if ARGV[2] ~= '' then redis.call('HSET', batchKey(ARGV[1], id), 'owner', ARGV[2]) end
  out[#out + 1] = id
  out[#out + 1] = readBatch(ARGV[1], id)
end
return out
`;

/**
 * Deletes batch `id` and, with a parts JSON, puts its parts in its place;
 * keeps dead letters up to the bound. KEYS: lease, inflight, epoch, dead,
 * dead ops, dropped. ARGV: P, id, token, max letters, parts JSON or '',
 * then id, letter, ops per dead letter. Returns the letters kept.
 */
export const SETTLE_SCRIPT = `${COMMON}
local P, id, token = ARGV[1], ARGV[2], ARGV[3]
local refused = fenced(KEYS[1], token)
if refused then return refused end
local owner = redis.call('HGET', batchKey(P, id), 'owner')
if not owner then return 0 end
if owner ~= token then
  return redis.error_reply('WBFENCED the batch belongs to another flusher now')
end
if ARGV[5] ~= '' then
  local since = redis.call('HGET', batchKey(P, id), 'since')
  for _, part in ipairs(cjson.decode(ARGV[5])) do
    local names = {}
    for _, p in ipairs(part.tables) do
      names[#names + 1] = p.table
      if #p.inserts > 0 then
        rpushAll(partKey(P, part.id, p.table, 'ins'), p.inserts, 1)
        indexInserts(partKey(P, part.id, p.table, 'ink'), p.inserts, 1)
      end
      if #p.counters > 0 then hsetAll(partKey(P, part.id, p.table, 'cnt'), p.counters) end
      if #p.updates > 0 then hsetAll(partKey(P, part.id, p.table, 'upd'), p.updates) end
    end
    redis.call('HSET', batchKey(P, part.id), 'owner', token, 'tables', cjson.encode(names))
    if since then redis.call('HSET', batchKey(P, part.id), 'since', since) end
    redis.call('LINSERT', KEYS[2], 'BEFORE', id, part.id)
  end
  redis.call('INCR', KEYS[3])
end
deleteBatch(P, id)
redis.call('LREM', KEYS[2], 0, id)
return keepLetters(KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[4]), ARGV, 6)
`;

/**
 * The unapplied state of many cells of one table. KEYS: epoch, inflight,
 * cnt, upd, ink (of the table). ARGV: P, table, number of fields, the
 * fields ([row key, column] of each cell), then the row keys. Returns the
 * epoch, the pending deltas, values (one per field) and inserts (one per
 * row key), then the id, deltas, values and inserts of each in-flight batch.
 */
export const READ_SCRIPT = `${COMMON}
local P, t, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local fields, keys = {}, {}
for i = 4, 3 + n do fields[#fields + 1] = ARGV[i] end
for i = 4 + n, #ARGV do keys[#keys + 1] = ARGV[i] end
local function hmget(key, names)
  local out = {}
  for i = 1, #names, 5000 do
    for _, value in ipairs(redis.call('HMGET', key, unpack(names, i, math.min(i + 4999, #names)))) do
      out[#out + 1] = value
    end
  end
  return out
end
local out = { redis.call('GET', KEYS[1]) or '0', hmget(KEYS[3], fields), hmget(KEYS[4], fields), hmget(KEYS[5], keys) }
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  out[#out + 1] = id
  out[#out + 1] = hmget(partKey(P, id, t, 'cnt'), fields)
  out[#out + 1] = hmget(partKey(P, id, t, 'upd'), fields)
  out[#out + 1] = hmget(partKey(P, id, t, 'ink'), keys)
end
return out
`;

/**
 * Buffers dead letters again, in the order given, and deletes them: each
 * one still held, exactly once. KEYS: dead, dead ops, tables. ARGV: P,
 * then letter ids. Returns how many were moved.
 */
export const REQUEUE_SCRIPT = `${COMMON}${ADD_DELTAS}
local P = ARGV[1]
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local ops = redis.call('HGET', KEYS[2], id)
  if ops then
    local op = cjson.decode(ops)
    local t = op.table
    -- Deltas pending now all arrived after the letter's update: they stay.
    if #op.sets > 0 then hsetAll(tableKey(P, t, 'upd'), op.sets) end
    -- Their values are unranked now: a merged write replaces them.
    for j = 1, #op.sets, 2 do redis.call('HDEL', tableKey(P, t, 'rnk'), op.sets[j]) end
    if op.merged then mergeCells(tableKey(P, t, 'upd'), tableKey(P, t, 'rnk'), op.merged) end
    addOthers(tableKey(P, t, 'cnt'), op.deltas)
    if #op.inserts > 0 then
      rpushAll(tableKey(P, t, 'ins'), op.inserts, 1)
      indexInserts(tableKey(P, t, 'ink'), op.inserts, 1)
    end
    redis.call('SADD', KEYS[3], t)
    redis.call('HSETNX', sinceKey(P), t, nowMs())
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    moved = moved + 1
  end
end
return moved
`;

/** Deletes dead letters. KEYS: dead, dead ops. ARGV: ids (none: all). Returns how many. */
export const REMOVE_DEAD_SCRIPT = `
local ids = {}
if #ARGV > 0 then ids = ARGV else ids = redis.call('HKEYS', KEYS[1]) end
local removed = 0
for _, id in ipairs(ids) do
  removed = removed + redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return removed
`;

/**
 * Counts of one data source. KEYS: tables, inflight, dead, dropped. ARGV: P.
 * Returns counters, updated rows, inserts, in-flight batches, dead letters,
 * dropped, and when the oldest unapplied write arrived (ms, -1 if unknown).
 */
export const STATS_SCRIPT = `${COMMON}
local P = ARGV[1]
local counters, updates, inserts = 0, 0, 0
for _, t in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  counters = counters + redis.call('HLEN', tableKey(P, t, 'cnt'))
  inserts = inserts + redis.call('LLEN', tableKey(P, t, 'ins'))
  local rows = {}
  for _, field in ipairs(redis.call('HKEYS', tableKey(P, t, 'upd'))) do
    rows[cjson.decode(field)[1]] = true
  end
  for _ in pairs(rows) do updates = updates + 1 end
end
return { counters, updates, inserts, redis.call('LLEN', KEYS[2]), redis.call('HLEN', KEYS[3]), tonumber(redis.call('GET', KEYS[4]) or '0'), oldestUnapplied(P, KEYS[2]) or -1 }
`;

/**
 * When the oldest unapplied write of one data source arrived (ms since the
 * epoch), pending or in flight; nil when nothing is buffered or no time
 * was recorded. KEYS: since, inflight. ARGV: P.
 */
export const OLDEST_SCRIPT = `${COMMON}
local oldest = oldestUnapplied(ARGV[1], KEYS[2])
if oldest == nil then return nil end
return tostring(oldest)
`;

/**
 * Pending entries of one data source per table. KEYS: tables. ARGV: P.
 * Returns table, counters, updated rows, inserts per table.
 */
export const PENDING_BY_TABLE_SCRIPT = `${COMMON}
local P = ARGV[1]
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local rows, updates = {}, 0
  for _, field in ipairs(redis.call('HKEYS', tableKey(P, t, 'upd'))) do
    rows[cjson.decode(field)[1]] = true
  end
  for _ in pairs(rows) do updates = updates + 1 end
  out[#out + 1] = t
  out[#out + 1] = redis.call('HLEN', tableKey(P, t, 'cnt'))
  out[#out + 1] = updates
  out[#out + 1] = redis.call('LLEN', tableKey(P, t, 'ins'))
end
return out
`;

/**
 * Drops the pending writes of one row and counts the in-flight batches
 * holding writes of it. KEYS: cnt, upd, ins, ink (of the table), inflight,
 * tables, since. ARGV: P, table, the row's cell-field prefix, row key. A
 * table left with nothing pending leaves the tables set and the lag
 * metric, as after a claim. Returns counters,
 * updated cells and inserts dropped, then the in-flight batches.
 */
export const DISCARD_SCRIPT = `${COMMON}
local P, t, prefix, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function rowFields(hash)
  local found = {}
  for _, field in ipairs(redis.call('HKEYS', hash)) do
    if string.sub(field, 1, #prefix) == prefix then found[#found + 1] = field end
  end
  return found
end
local function dropFields(hash)
  local fields = rowFields(hash)
  for i = 1, #fields, 5000 do
    redis.call('HDEL', hash, unpack(fields, i, math.min(i + 4999, #fields)))
  end
  return #fields
end
local counters, cells = dropFields(KEYS[1]), dropFields(KEYS[2])
-- The ranks of its merged cells sit beside upd (see mergeCells).
dropFields(string.sub(KEYS[2], 1, -4) .. 'rnk')
local item = key .. '\\n'
local inserts, items = 0, {}
for _, value in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if string.sub(value, 1, #item) == item then
    inserts = inserts + 1
    items[value] = true
  end
end
for value in pairs(items) do redis.call('LREM', KEYS[3], 0, value) end
redis.call('HDEL', KEYS[4], key)
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) == 0 then
  redis.call('SREM', KEYS[6], t)
  redis.call('HDEL', KEYS[7], t)
end
local inFlight = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
  if redis.call('HEXISTS', partKey(P, id, t, 'ink'), key) == 1
    or #rowFields(partKey(P, id, t, 'cnt')) > 0 or #rowFields(partKey(P, id, t, 'upd')) > 0 then
    inFlight = inFlight + 1
  end
end
return { counters, cells, inserts, inFlight }
`;

/** Extends a lease held by ARGV[1] to ARGV[2] ms. KEYS: lease. */
export const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/** Deletes a lease held by ARGV[1]. KEYS: lease. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** A script reply: bulk strings, nils and nested arrays. */
export type Reply = string | null | Reply[];
type Args = Array<string | number>;

/** The scripts as commands of a client (ioredis `defineCommand`: EVALSHA, EVAL once per server). */
export interface RedisScripts {
  wbFormat(...args: Args): Promise<string>;
  wbWrite(...args: Args): Promise<number>;
  wbClaim(...args: Args): Promise<Reply[]>;
  wbInFlight(...args: Args): Promise<Reply[]>;
  wbSettle(...args: Args): Promise<number>;
  wbRead(...args: Args): Promise<Reply[]>;
  wbRequeue(...args: Args): Promise<number>;
  wbRemoveDead(...args: Args): Promise<number>;
  wbStats(...args: Args): Promise<number[]>;
  wbOldest(...args: Args): Promise<string | null>;
  wbPendingByTable(...args: Args): Promise<Array<string | number>>;
  wbRenew(...args: Args): Promise<number>;
  wbDiscard(...args: Args): Promise<number[]>;
  wbRelease(...args: Args): Promise<number>;
}

/** Each script's command name, number of keys and source. */
const SCRIPTS: Array<[keyof RedisScripts, number, string]> = [
  ['wbFormat', 2, FORMAT_SCRIPT],
  ['wbWrite', 5, WRITE_SCRIPT],
  ['wbClaim', 4, CLAIM_SCRIPT],
  ['wbInFlight', 2, IN_FLIGHT_SCRIPT],
  ['wbSettle', 6, SETTLE_SCRIPT],
  ['wbRead', 5, READ_SCRIPT],
  ['wbRequeue', 3, REQUEUE_SCRIPT],
  ['wbRemoveDead', 2, REMOVE_DEAD_SCRIPT],
  ['wbStats', 4, STATS_SCRIPT],
  ['wbOldest', 2, OLDEST_SCRIPT],
  ['wbPendingByTable', 1, PENDING_BY_TABLE_SCRIPT],
  ['wbRenew', 1, RENEW_SCRIPT],
  ['wbRelease', 1, RELEASE_SCRIPT],
  ['wbDiscard', 7, DISCARD_SCRIPT],
];

/** Defines every script on `client` as a command, and returns it typed with them. */
export function withScripts(client: Redis | Cluster): (Redis | Cluster) & RedisScripts {
  for (const [name, numberOfKeys, lua] of SCRIPTS) {
    client.defineCommand(name, { numberOfKeys, lua });
  }
  return client as (Redis | Cluster) & RedisScripts;
}
