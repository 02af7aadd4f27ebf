"""The ASGI receiver for pushed delivery reports (§7) and replies (§9).

Rules:

1. ``GET`` or ``POST`` to ``/<token>/reports`` or ``/<token>/replies`` (``_access.py``: the token,
   the allow-list, trusted proxies). ``data`` comes from the query string, a form body, a
   multipart part or the raw body, decoded once (``protocol.push_payloads``).
2. Bounded: a ``Content-Length`` above ``max_body`` is refused (413) before anything is read; a
   body that grows past it is refused as it arrives; a body not complete within ``body_timeout``
   seconds gets 408; one cut off by a disconnect is not read at all (headers: ``_server.py``);
   payloads above ``offload_bytes`` are parsed in a worker thread, off the event loop; at most
   ``max_records`` records are read per push, the rest is quarantined. A request the readers
   fail on (a MIME parser recursing past Python's limit) is quarantined whole, not answered 500.
3. Each record is read on its own (``protocol.read_push``). What reads and what is quarantined
   both go to the sink (``Journal.store_push`` stores both in one transaction); ``success`` is
   answered only after the sink returned. If it raises (a failed journal write), the answer is
   500 ``retry`` and the platform pushes again; the journal does not count the retry twice. So
   it is when the sink has not returned within ``store_timeout`` seconds (a journal locked by
   another process, a stalled disk): nothing waits without a deadline.
4. With the older ``on_reports`` / ``on_replies`` handlers and no ``on_quarantine``, a push with
   anything to quarantine is refused whole (400) and nothing is handed on.
5. Metrics (``m5c_async.observability.Metrics``, when prometheus-client is installed and
   ``metrics`` is not False): every stored push and every refusal is counted, and ``GET
   /<token>/metrics`` (``/metrics`` without a token) answers the registry in Prometheus's text
   format. It needs the token like the push routes (the receiver faces the internet and the
   counts tell a business's volume) but not the push allow-list, which names who may *push*.
   A scraper that cannot hold the token uses a separate port (``m5c webhook serve
   --metrics-port``) on an internal interface.

Mount it in Starlette/FastAPI (``app.mount("/sms", receiver)``) or serve it alone with uvicorn.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import anyio.to_thread

from .._asgi import BodyTooLarge, Disconnected, Receive, Scope, Send, lifespan, read_body, respond
from .._exceptions import InvalidParameterError, M5CError, PushFormatError
from .._observers import notify
from .._text import printable
from ..protocol import (
    MAX_RECORDS_PER_PUSH,
    DeliveryReport,
    InboundReply,
    PushBatch,
    PushFormat,
    PushKind,
    Quarantined,
    multipart_misshape,
    push_payloads,
    read_push,
    utf8_keeping_bytes,
)
from ._access import (
    AddressSet,
    allow_list,
    check_token,
    client_address,
    redact_access_log,
    token_matches,
)

if TYPE_CHECKING:
    from ..observability.metrics import Metrics

__all__ = ["PushSink", "WebhookReceiver"]

log = logging.getLogger("m5c_async.webhook")
ReportHandler = Callable[[list[DeliveryReport]], Awaitable[Any]]
ReplyHandler = Callable[[list[InboundReply]], Awaitable[Any]]
QuarantineHandler = Callable[[list[Quarantined]], Awaitable[Any]]

#: Payloads larger than this are parsed in a worker thread.
OFFLOAD_BYTES: Final = 64 * 1024
#: Seconds the sink may take to store a push before the answer is 500 ``retry``.
STORE_TIMEOUT: Final = 20.0


class PushSink(Protocol):
    """Where pushes go: ``Journal`` is one. Return only once both parts are durably stored."""

    async def store_push(self, batch: PushBatch[Any], *, peer: str | None = None) -> object:
        """Store the batch's records and its quarantined parts."""


class WebhookReceiver:
    """Receive pushed reports and replies; store them through a sink.

    Example:
        >>> # async with Journal(Path("c.db")) as journal:
        >>> #     receiver = WebhookReceiver(sink=journal, token=secrets.token_urlsafe(24))
        >>> #     app.mount("/sms", receiver)   ->  /sms/<token>/reports, /sms/<token>/replies
    """

    def __init__(
        self,
        *,
        sink: PushSink | None = None,
        on_reports: ReportHandler | None = None,
        on_replies: ReplyHandler | None = None,
        on_quarantine: QuarantineHandler | None = None,
        token: str | None = None,
        insecure: bool = False,
        allowed_ips: Collection[str] | bool | None = None,
        trusted_proxies: Collection[str] = (),
        reports_path: str = "/reports",
        replies_path: str = "/replies",
        push_format: PushFormat | str | None = None,
        max_body: int = 4 * 1024 * 1024,
        max_records: int = MAX_RECORDS_PER_PUSH,
        body_timeout: float = 10.0,
        offload_bytes: int = OFFLOAD_BYTES,
        metrics: Metrics | bool | None = None,
        metrics_path: str = "/metrics",
        store_timeout: float = STORE_TIMEOUT,
    ) -> None:
        self.token = check_token(token, insecure=insecure)
        redact_access_log(self.token, (reports_path, replies_path))
        #: Counts pushes and serves ``metrics_path`` (rule 5); None when off.
        self.metrics: Metrics | None = _metrics(metrics)
        self.metrics_path = metrics_path
        self.routes: dict[str, PushKind] = {}
        if sink is not None or on_reports is not None:
            self.routes[reports_path] = PushKind.REPORT
        if sink is not None or on_replies is not None:
            self.routes[replies_path] = PushKind.REPLY
        if not self.routes:
            raise InvalidParameterError("give a sink, or on_reports, on_replies or both")
        self.sink = sink
        self.on_reports = on_reports
        self.on_replies = on_replies
        self.on_quarantine = on_quarantine
        self.push_format = PushFormat(push_format) if push_format else None
        self.allowed = allow_list(allowed_ips)
        self.trusted: AddressSet | None = AddressSet(trusted_proxies) or None
        self.max_body = max_body
        self.max_records = max_records
        self.body_timeout = body_timeout
        self.offload_bytes = offload_bytes
        self.store_timeout = store_timeout
        self.received = {"report": 0, "reply": 0}
        self.quarantined = {"report": 0, "reply": 0}
        self.refused = 0

    def _route(self, path: str) -> PushKind | str | None:
        if self.token is not None:
            segment, _, rest = path.lstrip("/").partition("/")
            if not token_matches(self.token, segment):
                return None
            path = "/" + rest
        if self.metrics is not None and path == self.metrics_path:
            return self.metrics_path
        return self.routes.get(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        kind = self._route(path)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if kind is not None and not isinstance(kind, PushKind):
            await self._serve_metrics(scope, headers, send)
            return
        peer = (scope.get("client") or ("", 0))[0]
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1") or None
        source = client_address(peer, forwarded, self.trusted)
        if self.allowed is not None and not self.allowed.contains(source):
            # Before the token's verdict: from outside, a wrong token and the right one look
            # the same. Only a request for a push route is worth a log line.
            if kind is None:
                self.refused += 1
                self._count_refusal(403)
                await _answer(send, 403, "forbidden")
            else:
                await self._refuse(
                    send, 403, "forbidden", "push from %s refused: not allowed", source
                )
            return
        if kind is None:
            self._count_refusal(404)
            await _answer(send, 404, "not found")
            return
        if scope["method"] not in ("GET", "POST"):
            await _answer(send, 405, "GET or POST")
            return
        body = await self._body(headers, receive, send)
        if body is None:
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        query = scope.get("query_string", b"")
        try:
            if len(body) + len(query) > self.offload_bytes:
                batches = await anyio.to_thread.run_sync(
                    self._read, kind, query, content_type, body
                )
            else:
                batches = self._read(kind, query, content_type, body)
        except PushFormatError as exc:
            await self._refuse(send, 400, exc.message, "%s push refused: %s", kind, exc.message)
            return
        except Exception as exc:  # a reader's failure must not make the platform retry forever
            reason = f"unreadable request ({type(exc).__name__})"
            log.warning("%s push from %s: %s; quarantined whole", kind, source, reason)
            batches = [_unreadable(kind, query, body, reason)]
        await self._store(send, kind, batches, source)

    async def _body(
        self, headers: dict[bytes, bytes], receive: Receive, send: Send
    ) -> bytes | None:
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._refuse(send, 413, f"body above {self.max_body} bytes", "%s", "too large")
            return None
        try:
            with anyio.fail_after(self.body_timeout):
                return await read_body(receive, self.max_body)
        except BodyTooLarge:
            await self._refuse(send, 413, f"body above {self.max_body} bytes", "%s", "too large")
        except TimeoutError:
            await self._refuse(send, 408, "body too slow", "%s", "push body too slow; dropped")
        except Disconnected:
            # Half a body is not a push: nothing is read or stored; the platform pushes again.
            self.refused += 1
        return None

    def _read(
        self, kind: PushKind, query: bytes, content_type: str | None, body: bytes
    ) -> list[PushBatch[Any]]:
        misshape = multipart_misshape(content_type, body)
        if misshape is not None:
            return [_unreadable(kind, query, body, misshape)]
        payloads = push_payloads(query=query, content_type=content_type, body=body)
        return [
            read_push(kind, p, self.push_format, max_records=self.max_records) for p in payloads
        ]

    async def _store(
        self, send: Send, kind: PushKind, batches: list[PushBatch[Any]], source: str
    ) -> None:
        if self.sink is None and self.on_quarantine is None:
            bad = next((q for b in batches for q in b.quarantined), None)
            if bad is not None:
                await self._refuse(send, 400, bad.reason, "%s push refused: %s", kind, bad.reason)
                return
        try:
            with anyio.fail_after(self.store_timeout):
                for batch in batches:
                    await self._hand_on(batch, source)
        except TimeoutError:
            # What the sink finishes later is kept; the platform's retry is not counted twice.
            log.error("storing a %s push took over %s s; answering retry", kind, self.store_timeout)
            await _answer(send, 500, "retry")
            return
        except M5CError as exc:  # a named failure (the journal's disk): one line, no traceback
            log.warning(
                "storing a %s push failed (%s); answering retry so it comes again",
                kind,
                exc.message,
            )
            await _answer(send, 500, "retry")
            return
        except Exception:
            log.exception("storing a %s push failed; answering retry so it comes again", kind)
            await _answer(send, 500, "retry")
            return
        for batch in batches:
            self.received[kind] += len(batch.records)
            self.quarantined[kind] += len(batch.quarantined)
            if self.metrics is not None:
                notify(self.metrics.on_inbound, batch, via="push")
            if batch.quarantined:
                log.warning(
                    "%s push from %s: %d records stored, %d parts quarantined (%s)",
                    kind,
                    source,
                    len(batch.records),
                    len(batch.quarantined),
                    # Quotes pushed text (a JSON field name): no terminal control, one line.
                    printable(batch.quarantined[0].reason[:120], newlines=False),
                )
        await _answer(send, 200, "success")

    async def _hand_on(self, batch: PushBatch[Any], source: str) -> None:
        if self.sink is not None:
            await self.sink.store_push(batch, peer=source or None)
            return
        if batch.records:
            handler = self.on_reports if batch.kind is PushKind.REPORT else self.on_replies
            assert handler is not None
            await handler(list(batch.records))
        if batch.quarantined and self.on_quarantine is not None:
            await self.on_quarantine(list(batch.quarantined))

    async def _refuse(self, send: Send, status: int, text: str, fmt: str, *args: object) -> None:
        self.refused += 1
        self._count_refusal(status)
        log.warning(fmt, *args)
        await _answer(send, status, text)

    def _count_refusal(self, status: int) -> None:
        if self.metrics is not None:
            notify(self.metrics.on_push_refused, status)

    async def _serve_metrics(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> None:
        assert self.metrics is not None
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, "GET")
            return
        accept = headers.get(b"accept", b"").decode("latin-1")
        body, content_type = self.metrics.render(accept)
        await respond(send, 200, body, content_type.encode("latin-1"))


def _unreadable(kind: PushKind, query: bytes, body: bytes, reason: str) -> PushBatch[Any]:
    """The whole request as one quarantined entry: its body, or its query string."""
    raw = utf8_keeping_bytes(body) if body.strip() else query.decode("latin-1")
    entry = Quarantined(kind=kind, raw=raw, reason=reason, format=None, records=0)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return PushBatch(kind=kind, format=None, records=(), quarantined=(entry,), digest=digest)


async def _answer(send: Send, status: int, text: str) -> None:
    await respond(send, status, text.encode("utf-8"), b"text/plain; charset=utf-8")


def _metrics(metrics: Metrics | bool | None) -> Metrics | None:
    """The receiver's metrics: None or True for the default registry's (None: only when
    prometheus-client is installed), False for none."""
    if metrics is False:
        return None
    if metrics is None or metrics is True:
        try:
            from ..observability.metrics import Metrics
        except ImportError:
            if metrics is True:
                raise
            return None
        return Metrics()
    return metrics
