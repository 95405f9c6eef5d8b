"""The Lua script that writes one batch of an ingest DAT's entries into its stream (see :mod:`wsdat_redis`)."""

from __future__ import annotations

from typing import Final

__all__ = ["SCRIPT"]

#: One batch: KEYS stream, seq counter, this writer's mark; ARGV batch number, maxlen, dat name, then four values per
#: entry (event, row, payload, t; the payload is ``data`` for binary, else ``message``). Returns the batch's last seq,
#: or -1 for a batch written before; a batch whose predecessor is missing is refused, so a retry keeps the order.
#: The stream is trimmed once per batch: ``MAXLEN ~`` on every XADD costs Redis a quarter of the script's time.
SCRIPT: Final = """
local batch = tonumber(ARGV[1])
local done = tonumber(redis.call('GET', KEYS[3]) or '0')
if batch <= done then return -1 end
if done > 0 and batch ~= done + 1 then
  return redis.error_reply('WSDATGAP batch ' .. batch .. ' of this writer follows batch ' .. done)
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local fields = last[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'seq' then redis.call('SET', KEYS[2], fields[i + 1]) end
    end
  end
end
local n = (#ARGV - 3) / 4
local seq = redis.call('INCRBY', KEYS[2], n) - n
local dat = ARGV[3]
for i = 4, #ARGV, 4 do
  seq = seq + 1
  local field = 'message'
  if ARGV[i] == 'binary' then field = 'data' end
  redis.call('XADD', KEYS[1], '*', 'dat', dat, 'event', ARGV[i], 'row', ARGV[i + 1], field, ARGV[i + 2],
             't', ARGV[i + 3], 'seq', seq)
end
local maxlen = tonumber(ARGV[2])
if maxlen > 0 then redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', maxlen) end
redis.call('SET', KEYS[3], batch, 'EX', 604800)
return seq
"""
