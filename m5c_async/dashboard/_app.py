"""The dashboard's ASGI app: one page, its script and style, and the JSON it polls.

Rules:

1. ``GET /`` is the page; ``/static/dashboard.js`` and ``/static/dashboard.css`` are the only
   other files, served from the package (no build step, nothing from another site: the
   Content-Security-Policy allows this origin only and no inline script). The page's URLs are
   relative and ``root_path`` is honoured, so it works under a path prefix.
2. ``GET /api/campaigns`` lists the journal's campaigns; ``GET /api/campaigns/<id>`` (or
   ``latest``) is one campaign's snapshot (``_reader.py``). The page polls them every
   ``interval`` seconds. Snapshots are computed in a worker thread, one at a time, and shared by
   every client asking within half an interval (or four times as long as the last one took to
   read, so reading a large journal takes at most a fifth of the time), and up to 30 s while the
   journal's files have not changed: more viewers do not mean more queries, and a finished
   campaign left open costs next to nothing.
3. Only ``GET`` and ``HEAD``; a request whose ``Host`` is not one of ``allowed_hosts`` (by default
   the loopback names) is refused, so another site cannot read the page through DNS rebinding.
"""

from __future__ import annotations

import importlib.resources
import time
from collections.abc import Callable, Collection
from typing import Any, Final

import anyio
import anyio.to_thread
import orjson

from .._asgi import Receive, Scope, Send, lifespan
from .._exceptions import JournalError
from ._reader import JournalReader

__all__ = ["LOOPBACK_HOSTS", "DashboardApp"]

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_FILES: Final = {
    "/": ("index.html", b"text/html; charset=utf-8"),
    "/index.html": ("index.html", b"text/html; charset=utf-8"),
    "/static/dashboard.js": ("dashboard.js", b"text/javascript; charset=utf-8"),
    "/static/dashboard.css": ("dashboard.css", b"text/css; charset=utf-8"),
}
_JSON: Final = b"application/json"
#: A snapshot is kept at least this many times as long as it took to read.
BUSY_FACTOR: Final = 4.0
#: Seconds a snapshot is kept while the journal's files do not change.
UNCHANGED_MAX_AGE: Final = 30.0
_POLICY: Final = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class DashboardApp:
    """Serve the dashboard of one journal (module docstring).

    Example:
        >>> # app = DashboardApp(JournalReader(Path("campaign.db")))
        >>> # await uvicorn.Server(uvicorn.Config(app, port=8950)).serve()
    """

    def __init__(
        self,
        reader: JournalReader,
        *,
        interval: float = 1.0,
        allowed_hosts: Collection[str] | None = LOOPBACK_HOSTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.interval = interval
        self.allowed_hosts = None if allowed_hosts is None else frozenset(allowed_hosts)
        self.clock = clock
        self._files = {path: (_static(name), kind) for path, (name, kind) in _FILES.items()}
        self._cache: dict[str, tuple[float, tuple[int, ...], Any]] = {}
        self._lock = anyio.Lock()
        self._fresh = interval / 2
        self.queries = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        head = scope["method"] == "HEAD"
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"only GET\n", b"text/plain", head, allow=True)
            return
        if not self._host_allowed(scope):
            await _respond(send, 421, b"unknown host\n", b"text/plain", head)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            # Mounted under a prefix (ASGI: ``path`` includes ``root_path``).
            path = path[len(root) :] or "/"
        if path in self._files:
            body, kind = self._files[path]
            await _respond(send, 200, body, kind, head)
            return
        if path == "/favicon.ico":
            await _respond(send, 204, b"", b"image/x-icon", head)
            return
        if path == "/api/campaigns":
            await self._json(send, head, "campaigns", self._campaigns)
            return
        prefix = "/api/campaigns/"
        if path.startswith(prefix):
            which = path[len(prefix) :]
            if which == "latest" or (which.isdigit() and which.isascii()):
                campaign = None if which == "latest" else int(which)
                await self._json(send, head, which, lambda: self.reader.snapshot(campaign))
                return
        await _respond(send, 404, b'{"error":"not found"}', _JSON, head)

    def _host_allowed(self, scope: Scope) -> bool:
        if self.allowed_hosts is None:
            return True
        host = b""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value
                break
        text = host.decode("latin-1").strip().lower()
        if text.startswith("["):
            name = text[: text.find("]") + 1]
        else:
            name = text.rsplit(":", 1)[0] if ":" in text else text
        return name in self.allowed_hosts

    def _campaigns(self) -> dict[str, Any]:
        return {
            "journal": self.reader.path.name,
            "interval": self.interval,
            "campaigns": self.reader.campaigns(),
        }

    async def _json(self, send: Send, head: bool, key: str, read: Callable[[], Any]) -> None:
        try:
            value = await self._cached(key, read)
        except JournalError as exc:
            body = orjson.dumps({"error": exc.message})
            await _respond(send, 503, body, _JSON, head)
            return
        if value is None:
            await _respond(send, 404, b'{"error":"no such campaign"}', _JSON, head)
            return
        await _respond(send, 200, orjson.dumps(value), _JSON, head)

    async def _cached(self, key: str, read: Callable[[], Any]) -> Any:
        async with self._lock:
            now = self.clock()
            version = self.reader.version()
            hit = self._cache.get(key)
            if hit is not None:
                at, seen, value = hit
                # Fresh enough, or nothing was written since (a finished campaign costs nothing
                # to watch; read again now and then all the same).
                if now - at < self._fresh or (seen == version and now - at < UNCHANGED_MAX_AGE):
                    return value
            value = await anyio.to_thread.run_sync(read)
            done = self.clock()
            self.queries += 1
            self._cache[key] = (done, version, value)
            # A slow journal (a campaign of millions) is read less often: reading takes at most
            # a fifth of the time.
            self._fresh = max(self.interval / 2, BUSY_FACTOR * (done - now))
            return value


def _static(name: str) -> bytes:
    return importlib.resources.files(__package__).joinpath("static", name).read_bytes()


async def _respond(
    send: Send, status: int, body: bytes, kind: bytes, head: bool, *, allow: bool = False
) -> None:
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", _POLICY),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if allow:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
