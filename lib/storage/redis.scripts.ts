/**
 * Lua scripts of the Redis storage. Every script touches the keys of one
 * (data source, table) only, which share a hash tag: one slot on a cluster.
 *
 * Per table (prefix P = `<keyPrefix>{<data source>/<table>}`):
 * - `P:cnt`  hash  [rowKey, column] → pending delta
 * - `P:upd`  hash  [rowKey, column] → pending value (encoded)
 * - `P:ins`  list  pending insert rows (encoded), in order
 * - `P:inflight` list of in-flight batch ids, oldest first
 * - `P:epoch` number of claims so far
 * - `P:b:<id>:cnt|upd|ins|owner` a claimed batch's part and its owner token
 */

/** RPUSH of `items[from..]`, in runs that stay under Lua's `unpack` limit. */
const RPUSH_ALL = `
local function rpushAll(key, items, from)
  for i = from, #items, 5000 do
    redis.call('RPUSH', key, unpack(items, i, math.min(i + 4999, #items)))
  end
end`;

/**
 * Applies one group of coalesced writes. KEYS: cnt, upd, ins.
 * ARGV: sets, integer deltas, other deltas (each a JSON array of
 * alternating fields and values: one argument instead of two per cell),
 * then insert rows.
 * Integer deltas use HINCRBY (several times cheaper than HINCRBYFLOAT),
 * unless the field already holds a fraction.
 */
export const WRITE_SCRIPT = `${RPUSH_ALL}
local sets = cjson.decode(ARGV[1])
for i = 1, #sets, 2 do
  redis.call('HSET', KEYS[2], sets[i], sets[i + 1])
  redis.call('HDEL', KEYS[1], sets[i])
end
local integers = cjson.decode(ARGV[2])
for i = 1, #integers, 2 do
  if type(redis.pcall('HINCRBY', KEYS[1], integers[i], integers[i + 1])) == 'table' then
    redis.call('HINCRBYFLOAT', KEYS[1], integers[i], integers[i + 1])
  end
end
local others = cjson.decode(ARGV[3])
for i = 1, #others, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], others[i], others[i + 1])
end
rpushAll(KEYS[3], ARGV, 4)
return 1
`;

/**
 * Moves pending entries into batch `id`: up to maxRows inserts, and (only
 * once the inserts are all taken) the pending counters and updates.
 * KEYS: cnt, upd, ins, inflight, epoch, bcnt, bupd, bins, bowner. ARGV: id, maxRows, token.
 */
export const CLAIM_SCRIPT = `${RPUSH_ALL}
local pending = redis.call('LLEN', KEYS[3])
local max = tonumber(ARGV[2])
local took = 0
if pending > 0 then
  if pending <= max then
    redis.call('RENAME', KEYS[3], KEYS[8])
    took = pending
  else
    local items = redis.call('LRANGE', KEYS[3], 0, max - 1)
    redis.call('LTRIM', KEYS[3], max, -1)
    rpushAll(KEYS[8], items, 1)
    took = max
  end
end
if took == pending then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('RENAME', KEYS[1], KEYS[6])
    took = took + 1
  end
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('RENAME', KEYS[2], KEYS[7])
    took = took + 1
  end
end
if took == 0 then return 0 end
redis.call('SET', KEYS[9], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('INCR', KEYS[5])
return 1
`;

/** Gives the table's in-flight batches to a new owner. KEYS: inflight. ARGV: batch key prefix, token. Returns the ids. */
export const ADOPT_SCRIPT = `
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call('SET', ARGV[1] .. id .. ':owner', ARGV[2])
end
return ids
`;

/** Deletes an applied batch part if the caller still owns it. KEYS: inflight, bcnt, bupd, bins, bowner. ARGV: id, token. */
export const ACK_SCRIPT = `
if redis.call('GET', KEYS[5]) ~= ARGV[2] then
  return redis.error_reply('WBFENCED the batch belongs to another flusher now')
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('LREM', KEYS[1], 0, ARGV[1])
return 1
`;

/**
 * One cell's unapplied state. KEYS: cnt, upd, inflight, epoch. ARGV: field, batch key prefix.
 * Returns epoch, pending delta, pending value, then id, delta, value per in-flight batch.
 */
export const READ_SCRIPT = `
local out = { redis.call('GET', KEYS[4]) or '0', redis.call('HGET', KEYS[1], ARGV[1]) or false, redis.call('HGET', KEYS[2], ARGV[1]) or false }
for _, id in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', ARGV[2] .. id .. ':cnt', ARGV[1]) or false
  out[#out + 1] = redis.call('HGET', ARGV[2] .. id .. ':upd', ARGV[1]) or false
end
return out
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
