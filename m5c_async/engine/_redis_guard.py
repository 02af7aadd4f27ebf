"""The per-number frequency guard with its counts in Redis: one history for every process.

Rules (the limits are ``FrequencyGuard``'s: (count, seconds) pairs, per number):

1. Each number's recent sends are a sorted set of send times (µs, Redis's own ``TIME``, so every
   process and host counts on one clock) under ``<prefix>:<number>``. One Lua script checks
   every limit and records the send, or refuses and records nothing: atomic, so N processes
   (N web workers) allow the limit once, not N times.
2. Nothing is forgotten while a window is open: a key holds exactly the sends of the longest
   window and expires with it (memory is bounded by expiry, never by evicting a live count).
   A restart of the application keeps the history (it is in Redis); whether a restart of Redis
   itself keeps it is Redis's persistence setting.
3. Redis failing (``_redis_link.py``): fail closed. A message is never let through unchecked;
   during an outage ``check`` raises ``RedisUnavailableError`` at once (``outage_timeout`` 0:
   a web request is not held waiting), one line is logged when it begins and one when it
   ends; refused credentials raise ``RedisAuthError``.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import anyio

from .._exceptions import FrequencyLimitError
from ._guard import check_limits
from ._redis_link import RedisLink

__all__ = ["RedisGuard"]

# KEYS: the number's sorted set. ARGV: a unique member, then (count, window µs) pairs from the
# shortest window to the longest. Answers {1} when recorded, or {0, retry_after µs, pair index}.
_CHECK: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function us(x) return string.format('%.0f', x) end
local pairs_n = (#ARGV - 1) / 2
local longest = tonumber(ARGV[2 * pairs_n + 1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', us(now - longest))
for i = 1, pairs_n do
  local count = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local recent = redis.call('ZCOUNT', KEYS[1], '(' .. us(now - window), '+inf')
  if recent >= count then
    local nth = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. us(now - window),
                           'WITHSCORES', 'LIMIT', count - 1, 1)
    return {0, us(tonumber(nth[2]) + window - now), i}
  end
end
redis.call('ZADD', KEYS[1], us(now), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(longest / 1000) + 1000)
return {1}
"""


class RedisGuard:
    """``FrequencyGuard`` with its history in Redis, shared by every process.

    Example:
        >>> # import redis.asyncio as redis
        >>> # guard = RedisGuard(redis.from_url("redis://10.0.0.5:6379/0"),
        >>> #                    prefix="m5c:shop:guard", limits=[(1, 60), (5, 3600)])
        >>> # async with SendEngine(client, guard=guard) as engine: ...
    """

    shared = True

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str,
        limits: Sequence[tuple[int, float]] = ((1, 60.0), (5, 3600.0)),
        call_timeout: float = 2.0,
        retry_interval: float = 0.5,
        outage_timeout: float | None = 0.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.limits = check_limits(limits)
        self.redis = redis
        self.prefix = prefix
        self.link = RedisLink(
            redis,
            purpose="the frequency guard",
            call_timeout=call_timeout,
            retry_interval=retry_interval,
            outage_timeout=outage_timeout,
            sleep=sleep,
        )
        self._script = redis.register_script(_CHECK)
        self._args: list[int] = []
        for count, seconds in self.limits:
            self._args += [count, round(seconds * 1_000_000)]
        self._me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"RedisGuard(server={self.link.server!r}, prefix={self.prefix!r})"

    async def acheck(self, number: str) -> None:
        """Record a message for ``number`` in the shared history, or refuse it.

        Raises:
            FrequencyLimitError: a limit refused it (nothing recorded).
            RedisUnavailableError, RedisAuthError, SharedStoreError: Redis failed; nothing
                recorded and nothing may be sent (fail closed).
        """
        member = f"{self._me}-{next(self._seq)}"
        key = f"{self.prefix}:{number}"
        answer = await self.link.call(lambda: self._script(keys=[key], args=[member, *self._args]))
        if int(answer[0]) == 1:
            return
        retry_after = int(answer[1]) / 1_000_000
        raise FrequencyLimitError(number, retry_after, self.limits[int(answer[2]) - 1])

    async def aforget(self, number: str) -> None:
        """Drop a number's history (e.g. a message that was never sent)."""
        await self.link.call(lambda: self.redis.delete(f"{self.prefix}:{number}"))

    async def aclose(self) -> None:
        """Close the Redis connections (within a second, even during an outage)."""
        with anyio.move_on_after(1.0, shield=True):
            await self.redis.aclose()
