"""One Redis client's health, for the shared pacer and the shared frequency guard.

Rules:

1. Every call has a deadline (``call_timeout``): a Redis that stopped answering (a paused
   process, a dead host) is an outage, never a wait without end.
2. Credentials refused (``WRONGPASS``, ``NOAUTH``) or a user without the permission
   (``NOPERM``): ``RedisAuthError`` at once, never retried and never called "unreachable"
   (redis-py's ``AuthenticationError`` is a subclass of its ``ConnectionError``, so it is told
   apart first).
3. Unreachable (refused, reset, timed out) or not serving (``LOADING``, ``READONLY``,
   ``MASTERDOWN``, ``TRYAGAIN``, ``BUSY``): an outage. The callers fail closed and wait; one
   of them at a time tries again every ``retry_interval`` (the others wait behind it, so
   hundreds of workers make one attempt, not hundreds). Once the outage has lasted
   ``outage_timeout`` seconds (``None``: no limit), every caller gets
   ``RedisUnavailableError`` (each caller still makes one attempt of its own unless one failed
   less than ``retry_interval`` ago). When an attempt succeeds, every waiter goes on by itself,
   and the connections left idle in the pool since before the outage are dropped (the server
   closed them: reused, they would each fail once more).
4. Logging is one line per change of state: a warning when an outage begins and one when it
   ends, with its length and the number of failed attempts that were not logged. The server
   is named ``host:port/db``: never a password or a user name (the URL is not logged).
5. Any other Redis error (``WRONGTYPE``, a script error): ``SharedStoreError``, not retried.
6. Time and sleep are injected (logic tests run on a fake clock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import anyio

from .._exceptions import RedisAuthError, RedisUnavailableError, SharedStoreError

__all__ = ["RedisLink", "describe"]

log = logging.getLogger("m5c_async.engine")
T = TypeVar("T")

_AUTH_REPLIES: Final = ("NOAUTH", "WRONGPASS", "NOPERM")
_BUSY_REPLIES: Final = ("LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "BUSY", "CLUSTERDOWN")


def describe(redis: Any) -> str:
    """``host:port/db`` (or the socket path) of a redis-py client: never its credentials."""
    try:
        kw = redis.connection_pool.connection_kwargs
    except AttributeError:
        return "redis"
    if kw.get("path"):
        return f"unix:{kw['path']}/{kw.get('db', 0)}"
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


class _Outage(Exception):
    """One failed attempt that counts as Redis being unreachable."""


def _kind(exc: BaseException) -> str:
    """``auth``, ``outage`` or ``other``."""
    try:
        import redis.exceptions as rx
    except ImportError:  # pragma: no cover - a redis client exists, so redis-py does
        return "outage" if isinstance(exc, OSError) else "other"
    auth = tuple(
        c
        for c in (
            rx.AuthenticationError,
            rx.AuthenticationWrongNumberOfArgsError,
            getattr(rx, "NoPermissionError", None),
            getattr(rx, "AuthorizationError", None),
        )
        if c is not None
    )
    if isinstance(exc, auth):
        return "auth"
    if isinstance(exc, rx.ResponseError):
        reply = str(exc).lstrip()
        if reply.startswith(_AUTH_REPLIES):
            return "auth"
        if reply.startswith(_BUSY_REPLIES):
            return "outage"
        return "other"
    if isinstance(exc, rx.ConnectionError | rx.TimeoutError | OSError | EOFError):
        return "outage"
    return "other"


class RedisLink:
    """Calls to one Redis client under the rules above."""

    def __init__(
        self,
        redis: Any,
        *,
        purpose: str,
        call_timeout: float = 5.0,
        retry_interval: float = 0.5,
        outage_timeout: float | None = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.redis = redis
        self.purpose = purpose
        self.server = describe(redis)
        self.call_timeout = call_timeout
        self.retry_interval = retry_interval
        self.outage_timeout = outage_timeout
        #: Failed attempts since this link was made (each outage's are also logged as a count).
        self.failures = 0
        #: When the current outage began (``None``: Redis answers).
        self.down_since: float | None = None
        self._unlogged = 0
        self._last_failure = float("-inf")
        self._clock = clock
        self._sleep = sleep
        self._probe = anyio.Lock()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` under the rules: retried through an outage, raised otherwise.

        Raises:
            RedisAuthError: credentials or permissions refused.
            RedisUnavailableError: the outage lasted ``outage_timeout``.
            SharedStoreError: any other Redis error.
        """
        while True:
            if self.down_since is None:
                try:
                    return await self._once(fn)
                except _Outage as exc:
                    self._failed(exc)
            async with self._probe:
                if self.down_since is None:
                    continue  # it came back while this caller queued
                since = self._clock() - self._last_failure
                if since < self.retry_interval:
                    self._give_up_if_too_long()  # each caller past the limit: no new attempt
                    await self._sleep(self.retry_interval - since)
                try:
                    result = await self._once(fn)
                except _Outage as exc:
                    self._failed(exc)
                    self._give_up_if_too_long()
                    continue
                self._recovered()
                await self._drop_idle_connections()
                return result

    async def _drop_idle_connections(self) -> None:
        """Connections idle in the pool since before the outage are dead (the server closed
        them): dropped, so the first calls after it are not a second outage."""
        pool = getattr(self.redis, "connection_pool", None)
        if pool is None:
            return
        with anyio.move_on_after(self.call_timeout):
            try:
                await pool.disconnect(inuse_connections=False)
            except Exception as exc:  # they will fail and be replaced one by one instead
                log.debug("could not drop idle redis connections (%s)", type(exc).__name__)

    async def _once(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            with anyio.fail_after(self.call_timeout):
                return await fn()
        except TimeoutError as exc:  # anyio's deadline (redis-py's own is a RedisError)
            raise _Outage(f"no answer in {self.call_timeout:g} s") from exc
        except Exception as exc:
            kind = _kind(exc)
            if kind == "outage":
                raise _Outage(f"{type(exc).__name__}: {str(exc)[:160]}") from exc
            if kind == "auth":
                raise RedisAuthError(
                    f"redis {self.server} refused the credentials or permissions for "
                    f"{self.purpose} ({type(exc).__name__}): check the password and user",
                    server=self.server,
                ) from exc
            raise SharedStoreError(
                f"redis {self.server} failed for {self.purpose} ({type(exc).__name__})",
                server=self.server,
            ) from exc

    def _failed(self, exc: _Outage) -> None:
        self.failures += 1
        self._last_failure = self._clock()
        if self.down_since is None:
            self.down_since = self._clock()
            self._unlogged = 0
            log.warning(
                "redis %s unreachable for %s (%s); holding sends, retrying every %g s",
                self.server,
                self.purpose,
                exc,
                self.retry_interval,
            )
        else:
            self._unlogged += 1

    def _recovered(self) -> None:
        assert self.down_since is not None
        log.warning(
            "redis %s answers again for %s after %.1f s (%d more failed attempts not logged)",
            self.server,
            self.purpose,
            self._clock() - self.down_since,
            self._unlogged,
        )
        self.down_since = None

    def _give_up_if_too_long(self) -> None:
        assert self.down_since is not None
        if self.outage_timeout is None:
            return
        lasted = self._clock() - self.down_since
        if lasted >= self.outage_timeout:
            raise RedisUnavailableError(
                f"redis {self.server} unreachable for {lasted:.1f} s for {self.purpose} "
                f"(limit {self.outage_timeout:g} s); nothing was sent without it",
                server=self.server,
            )
