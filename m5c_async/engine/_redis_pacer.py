"""A pacer shared through Redis, for many processes and hosts on one account.

Rules:

1. The rate: the local pacer's gates in one Lua script on Redis's own ``TIME``, so every process
   books on one clock: the schedule (``Gcra.release``: no start-up burst, a packet booked from
   the moment it leaves, ``rate * (1 - margin)``) and the sliding one-second window over every
   process's departures (``SlidingWindow``: at most ``rate * (1 - margin)`` rounded up in any
   window ``(s - 1, s]``, a packet's messages counted one every ``1 / rate`` s, the platform's
   strictest reading). The script books both and answers 0 when both are open, or answers how
   long to wait and books nothing; the caller sleeps that and asks again. Packets of a
   second's budget or more are spaced by the schedule alone and not logged in the window (as
   the local pacer does). One waiter per process asks at a time (a lock).
2. The concurrency cap: leased slots in a sorted set scored by expiry. ``admit`` takes a slot in
   the same script as the booking (so the request leaves right after its booking, not one Redis
   round trip later) and gives it back after the request; a crashed process's slots expire
   after ``lease`` seconds, so they never leak. Giving one back has a deadline and is skipped
   during an outage (the lease frees it). A call asked again (its answer lost) finds the slot
   it took its own; one cancelled while its script is in flight gives the slot back, since
   Redis may have taken it.
3. Redis failing (``_redis_link.py``): fail closed, nothing is sent without a reservation.
   Through an outage the waiters wait (cancellable: Ctrl-C works) and sending resumes by itself
   when Redis answers; one line is logged when the outage begins and one when it ends. An
   outage longer than ``outage_timeout`` raises ``RedisUnavailableError`` (the engine stops the
   run, the rest pending); refused credentials raise ``RedisAuthError`` at once.

Requires the ``redis`` extra (redis-py's asyncio client).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio

from .._exceptions import InvalidParameterError
from ._pacer import Aimd
from ._redis_link import RedisLink

__all__ = ["RedisPacer"]

log = logging.getLogger("m5c_async.engine")
#: Seconds giving a slot back may take (it runs shielded after a send; past this the lease
#: frees it), so Ctrl-C is never held up by a Redis that stopped answering.
_RELEASE_DEADLINE: Final = 0.5

# KEYS: the schedule's tat, the window's log of departures (a sorted set scored in µs), the
# request slots (a sorted set scored by lease expiry).
# ARGV: interval, tolerance, n, early, slack (seconds); window limit (0: no window), spread
# (messages a second a packet counts at), a token unique to this call; slot cap (0: no slot),
# lease, and the wait to answer while every slot is held.
# With a slot cap, the slot is taken in the same step as the booking (rule 2), so no round trip
# to Redis separates a booking from its request.
_GATE: Final = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local early = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local spread = tonumber(ARGV[7])
local cap = tonumber(ARGV[9])
local lease = tonumber(ARGV[10])
local US = 1000000
-- scores are whole µs since the epoch, written in full (Lua would print 14 digits)
local function us(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * US + tonumber(t[2])
local now = now_us / US
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  -- a slot this call already holds (its answer was lost, it asks again) is its own, not a wait
  if not redis.call('ZSCORE', KEYS[3], ARGV[8]) and redis.call('ZCARD', KEYS[3]) >= cap then
    -- a wait, never '0' (which would admit without a slot), even when polling at once
    return string.format('%.6f', math.max(tonumber(ARGV[11]), 0.000001))
  end
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat - now > tolerance + early then
  return string.format('%.6f', tat - tolerance - now)
end
local windowed = limit > 0 and n < limit
if windowed then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', us(now_us - US))
  -- how many of the new messages count at or before x (message i at now + floor(i*US/spread))
  local function upto(x)
    if x < now_us then return 0 end
    return math.min(n, math.floor(((x - now_us + 1) * spread - 1) / US) + 1)
  end
  local last = now_us + math.floor((n - 1) * US / spread)
  local candidates = {}
  for i = 0, n - 1 do candidates[#candidates + 1] = now_us + math.floor(i * US / spread) end
  local ahead = redis.call('ZRANGEBYSCORE', KEYS[2], us(now_us), '(' .. us(last + US), 'WITHSCORES')
  for i = 2, #ahead, 2 do candidates[#candidates + 1] = tonumber(ahead[i]) end
  for _, s in ipairs(candidates) do
    local count = redis.call('ZCOUNT', KEYS[2], '(' .. us(s - US), us(s)) + upto(s) - upto(s - US)
    if count > limit then
      if n == 1 and #ahead == 0 then
        -- exact: until the oldest message that must leave the window has left it
        local held = redis.call('ZCOUNT', KEYS[2], '(' .. us(now_us - US), us(now_us))
        local out = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. us(now_us - US), us(now_us),
                               'WITHSCORES', 'LIMIT', held - limit, 1)
        if #out == 2 then
          return string.format('%.6f', (tonumber(out[2]) + US + 1 - now_us) / US)
        end
      end
      return string.format('%.6f', 1 / limit)
    end
  end
end
local start = now
if tat >= now - slack then start = tat end
local booked = start + n * interval
redis.call('SET', KEYS[1], string.format('%.6f', booked), 'PX',
           math.ceil((booked - now + 60) * 1000))
if windowed then
  for i = 0, n - 1 do
    redis.call('ZADD', KEYS[2], us(now_us + math.floor(i * US / spread)), ARGV[8] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[2], 2000 + math.ceil((n - 1) * 1000 / spread))
end
if cap > 0 then
  redis.call('ZADD', KEYS[3], now + lease, ARGV[8])
  redis.call('PEXPIRE', KEYS[3], math.ceil(lease * 1000) + 1000)
end
return '0'
"""

_SLOT: Final = """
local cap = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < cap then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000) + 1000)
  return 1
end
return 0
"""


class RedisPacer:
    """The ``Pacer`` of ``LocalPacer``, with its state in Redis.

    Example:
        >>> # import redis.asyncio as redis
        >>> # pacer = RedisPacer(redis.from_url("redis://127.0.0.1:6379"), key="m5c:shop",
        >>> #                    rate=600, concurrency=300)
        >>> # await pacer.check()      # RedisAuthError now rather than at the first packet
        >>> # engine = SendEngine(client, config, pacer=pacer)
    """

    def __init__(
        self,
        redis: Any,
        *,
        key: str,
        rate: float,
        concurrency: int,
        margin: float = 0.008,
        tolerance: float = 0.0,
        early: float = 0.001,
        slack: float = 0.003,
        window: bool = True,
        lease: float = 30.0,
        retry_interval: float = 0.5,
        call_timeout: float = 5.0,
        outage_timeout: float | None = 120.0,
        slot_poll: float = 0.005,
        min_factor: float = 0.05,
        increase: float = 0.05,
        recover_every: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        if not 0 <= margin < 1 or slack < 0 or early < 0:
            raise InvalidParameterError("margin must be in [0, 1), early and slack non-negative")
        if (outage_timeout is not None and outage_timeout < 0) or call_timeout <= 0:
            raise InvalidParameterError("outage_timeout non-negative, call_timeout positive")
        self.redis = redis
        self.key = key
        self.base_rate = float(rate)
        self.concurrency = concurrency
        self.margin = margin
        self.tolerance = tolerance
        self.early = early
        self.slack = slack
        #: The sliding one-second gate's limit over every process's departures (0: none).
        self.window_limit = max(math.ceil(self.base_rate * (1 - margin)), 1) if window else 0
        self.lease = lease
        self.slot_poll = slot_poll
        self.aimd = Aimd(
            min_factor=min_factor, increase=increase, recover_every=recover_every, clock=clock
        )
        self.link = RedisLink(
            redis,
            purpose="pacing",
            call_timeout=call_timeout,
            retry_interval=retry_interval,
            outage_timeout=outage_timeout,
            sleep=sleep,
        )
        self._sleep = sleep
        self._gate_script = redis.register_script(_GATE)
        self._gate = anyio.Lock()
        self._slot = redis.register_script(_SLOT)
        self._tokens = itertools.count()
        self._me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    shared = True

    def __repr__(self) -> str:
        return f"RedisPacer(server={self.link.server!r}, key={self.key!r}, rate={self.base_rate})"

    @property
    def failures(self) -> int:
        """Attempts that found Redis unreachable (sends were held meanwhile)."""
        return self.link.failures

    @failures.setter
    def failures(self, value: int) -> None:
        self.link.failures = value

    @property
    def rate(self) -> float:
        """The current pacing rate of this process's bookings: the cap less the margin, times
        the AIMD factor."""
        return self.base_rate * (1 - self.margin) * self.aimd.factor

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a script under the link's rules (retried through an outage)."""
        return await self.link.call(lambda: script(keys=keys, args=args))

    async def check(self) -> None:
        """Ask Redis once, under the same rules: raises ``RedisAuthError`` for refused
        credentials, waits through a short outage like any call."""
        await self.link.call(self.redis.ping)

    async def acquire(self, n: int) -> None:
        """Wait until ``n`` messages may leave, and book them on the shared clock as leaving now.

        Raises:
            RedisAuthError, RedisUnavailableError, SharedStoreError: see ``_redis_link.py``.
        """
        await self._book(n, None)

    @asynccontextmanager
    async def admit(self, n: int) -> AsyncIterator[None]:
        """Wait until ``n`` messages may leave *and* a request slot is free; book both at once,
        and give the slot back on exit.

        Raises:
            RedisAuthError, RedisUnavailableError, SharedStoreError: see ``_redis_link.py``.
        """
        token = f"{self._me}-{next(self._tokens)}"
        await self._book(n, token)
        try:
            yield
        finally:
            await self._release(self.key + ":slots", token)

    async def _book(self, n: int, slot: str | None) -> None:
        keys = [self.key + ":tat", self.key + ":window", self.key + ":slots"]
        async with self._gate:
            while True:
                args = [
                    1.0 / self.rate,
                    self.tolerance,
                    n,
                    self.early,
                    self.slack,
                    self.window_limit,
                    max(int(self.base_rate), 1),
                    slot or f"{self._me}-{next(self._tokens)}",
                    self.concurrency if slot is not None else 0,
                    self.lease,
                    self.slot_poll,
                ]
                try:
                    wait = float(await self._call(self._gate_script, keys, args))
                except BaseException:
                    if slot is not None:
                        # Cancelled (or failed) while the script was in flight: Redis may have
                        # taken the slot; give it back rather than hold it for the lease.
                        await self._release(keys[2], slot)
                    raise
                if wait <= 0:
                    return
                await self._sleep(wait)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the account's ``concurrency`` request slots across every process
        (without booking any rate: ``admit`` books both)."""
        token = uuid.uuid4().hex
        key = self.key + ":slots"
        while not int(await self._call(self._slot, [key], [self.concurrency, self.lease, token])):
            await self._sleep(self.slot_poll)
        try:
            yield
        finally:
            await self._release(key, token)

    async def _release(self, key: str, token: str) -> None:
        if self.link.down_since is not None:
            return  # an outage: the lease frees the slot, no attempt (and no line) per slot
        with anyio.move_on_after(_RELEASE_DEADLINE, shield=True):
            try:
                await self.redis.zrem(key, token)
            except Exception as exc:  # the lease expires on its own
                log.debug("could not release a pacing slot (%s); it will expire", exc)

    async def aclose(self) -> None:
        """Close the Redis connections (within a second, even during an outage)."""
        with anyio.move_on_after(_RELEASE_DEADLINE * 2, shield=True):
            await self.redis.aclose()

    def throttled(self) -> None:
        """Multiplicative decrease of this process's rate."""
        self.aimd.decrease()

    def succeeded(self) -> None:
        """Additive increase, at most once per ``recover_every`` seconds."""
        self.aimd.recover()
