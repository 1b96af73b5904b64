"""The Lua scripts behind ``state: redis://``: one atomic reservation, one health merge.

Times come from the caller's clock, never Redis ``TIME``, and arrive as strings so that
Lua's 14-digit number formatting never rounds a score. Replies carry numbers as strings
too: Redis would truncate a Lua float to an integer.
"""

from __future__ import annotations

__all__ = ["PUBLISH_HEALTH", "RESERVE"]

#: KEYS: health hash, rpm zset, tpm zset, day counter.
#: ARGV: now, now - WINDOW, model, count ('1' when a limit is declared), rpm, tpm, rpd
#: ('' when not declared), day end, seconds the day counter lives, a unique member.
#: Replies {'disabled', reason}, {'ejected'|'cooldown', end}, {'limit', wait} or {'ok', '0'}.
RESERVE = """
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'disabled', 'ejected_until', 'cd:' .. ARGV[3])
if h[1] then return {'disabled', h[1]} end
if h[2] and tonumber(h[2]) > now then return {'ejected', h[2]} end
if h[3] and tonumber(h[3]) > now then return {'cooldown', h[3]} end
if ARGV[4] ~= '1' then return {'ok', '0'} end
local rpm, tpm, rpd = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local span = now - tonumber(ARGV[2])  -- the window's length
local wait = 0
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if rpm then
  local n = redis.call('ZCARD', KEYS[2])
  if n >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], n - rpm, n - rpm, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + span - now)
  end
end
if tpm then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
  local entries = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  local sum = 0
  for i = 1, #entries, 2 do sum = sum + tonumber(string.match(entries[i], ':(%d+)$')) end
  if sum >= tpm then
    -- when enough of the minute's tokens will have aged out to go under tpm
    local excess, until_room = sum - tpm, span
    for i = 1, #entries, 2 do
      excess = excess - tonumber(string.match(entries[i], ':(%d+)$'))
      if excess < 0 then until_room = tonumber(entries[i + 1]) + span - now break end
    end
    wait = math.max(wait, until_room)
  end
end
if rpd and tonumber(redis.call('GET', KEYS[4]) or '0') >= rpd then
  wait = math.max(wait, tonumber(ARGV[8]) - now)
end
if wait > 0 then return {'limit', tostring(wait)} end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[10])
redis.call('EXPIRE', KEYS[2], 120)
redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[9])
return {'ok', '0'}
"""

#: KEYS: health hash. ARGV: now, channel, key id, disabled reason ('' when not),
#: ejected until, ejections, then (model, cooldown end) pairs.
#: A key with nothing set was enabled: its shared health is cleared. Anything else merges,
#: later ends winning, so two instances never erase each other's cooldowns.
PUBLISH_HEALTH = """
local now = tonumber(ARGV[1])
if ARGV[4] == '' and tonumber(ARGV[5]) == 0 and #ARGV == 6 then
  redis.call('DEL', KEYS[1])
else
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'disabled', ARGV[4]) end
  local function later(field, value)
    local current = redis.call('HGET', KEYS[1], field)
    if not current or tonumber(value) > tonumber(current) then
      redis.call('HSET', KEYS[1], field, value)
    end
  end
  later('ejected_until', ARGV[5])
  redis.call('HSET', KEYS[1], 'ejections', ARGV[6])
  for i = 7, #ARGV, 2 do later('cd:' .. ARGV[i], ARGV[i + 1]) end
  -- Ended cooldowns go; the hash lives while the key is disabled, else to its last end.
  local last = tonumber(redis.call('HGET', KEYS[1], 'ejected_until'))
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 3) == 'cd:' then
      local ends = tonumber(fields[i + 1])
      if ends <= now then redis.call('HDEL', KEYS[1], fields[i]) end
      last = math.max(last, ends)
    end
  end
  if redis.call('HEXISTS', KEYS[1], 'disabled') == 1 then
    redis.call('PERSIST', KEYS[1])
  else
    redis.call('EXPIRE', KEYS[1], math.ceil(math.max(last - now, 0)) + 60)
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""
