"""A pacer shared through Redis, for many processes and hosts on one account.

Rules:

1. The rate: the local pacer's gate (``Gcra.release``: no start-up burst, a packet booked from
   the moment it leaves, ``rate * (1 - margin)``) done in one Lua script with Redis's own
   ``TIME``, so every process books on one clock. The script books and answers 0 when the gate
   is open, or answers how long to wait and books nothing; the caller sleeps that and asks
   again. Any amount is admitted (a 10,000-number packet leaves, and the next waits its time).
   One waiter per process asks at a time (a lock), so a process never races itself.
2. The concurrency cap: leased slots in a sorted set scored by expiry. A slot is taken before a
   request leaves and given back after; a crashed process's slots expire after ``lease``
   seconds, so they never leak.
3. Redis unreachable: fail closed. Nothing is sent without a reservation; the pacer waits and
   retries the connection, logs it, and counts it in ``failures``.

Requires the ``redis`` extra (redis-py's asyncio client).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio

from .._exceptions import InvalidParameterError
from ._pacer import Aimd

__all__ = ["RedisPacer"]

log = logging.getLogger("m5c_async.engine")

_GCRA: Final = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local early = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat - now > tolerance + early then
  return string.format('%.6f', tat - tolerance - now)
end
local start = now
if tat >= now - slack then start = tat end
local booked = start + n * interval
redis.call('SET', KEYS[1], string.format('%.6f', booked), 'PX',
           math.ceil((booked - now + 60) * 1000))
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
        lease: float = 30.0,
        retry_interval: float = 0.5,
        slot_poll: float = 0.005,
        min_factor: float = 0.05,
        increase: float = 0.05,
        recover_every: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.redis = redis
        self.key = key
        self.base_rate = float(rate)
        self.concurrency = concurrency
        if not 0 <= margin < 1 or slack < 0 or early < 0:
            raise InvalidParameterError("margin must be in [0, 1), early and slack non-negative")
        self.margin = margin
        self.tolerance = tolerance
        self.early = early
        self.slack = slack
        self.lease = lease
        self.retry_interval = retry_interval
        self.slot_poll = slot_poll
        self.aimd = Aimd(
            min_factor=min_factor, increase=increase, recover_every=recover_every, clock=clock
        )
        self.failures = 0
        self._sleep = sleep
        self._gcra = redis.register_script(_GCRA)
        self._gate = anyio.Lock()
        self._slot = redis.register_script(_SLOT)

    shared = True

    @property
    def rate(self) -> float:
        """The current pacing rate of this process's bookings: the cap less the margin, times
        the AIMD factor."""
        return self.base_rate * (1 - self.margin) * self.aimd.factor

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a script, failing closed: retry until Redis answers."""
        while True:
            try:
                return await script(keys=keys, args=args)
            except (OSError, TimeoutError) as exc:
                self._failed(exc)
            except Exception as exc:
                # redis-py raises its own ConnectionError/TimeoutError (not OSError subclasses)
                if type(exc).__module__.startswith("redis") and "Error" in type(exc).__name__:
                    self._failed(exc)
                else:
                    raise
            await self._sleep(self.retry_interval)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        log.warning(
            "redis unreachable for pacing (%s); holding sends until it answers (failure %d)",
            type(exc).__name__,
            self.failures,
        )

    async def acquire(self, n: int) -> None:
        """Wait until ``n`` messages may leave, and book them on the shared clock as leaving now."""
        async with self._gate:
            while True:
                args = [1.0 / self.rate, self.tolerance, n, self.early, self.slack]
                wait = float(await self._call(self._gcra, [self.key + ":tat"], args))
                if wait <= 0:
                    return
                await self._sleep(wait)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the account's ``concurrency`` request slots across every process."""
        token = uuid.uuid4().hex
        key = self.key + ":slots"
        while not int(await self._call(self._slot, [key], [self.concurrency, self.lease, token])):
            await self._sleep(self.slot_poll)
        try:
            yield
        finally:
            try:
                with anyio.CancelScope(shield=True):
                    await self.redis.zrem(key, token)
            except Exception as exc:  # the lease expires on its own
                log.warning("could not release a pacing slot (%s); it will expire", exc)

    async def aclose(self) -> None:
        """Close the Redis connections."""
        await self.redis.aclose()

    def throttled(self) -> None:
        """Multiplicative decrease of this process's rate."""
        self.aimd.decrease()

    def succeeded(self) -> None:
        """Additive increase, at most once per ``recover_every`` seconds."""
        self.aimd.recover()
