"""The ASGI receiver for pushed delivery reports (§7) and replies (§9).

Rules:

1. ``POST`` to the reports or replies path, the records in the ``data`` form field (the query
   string's ``data`` is read too, as the document's examples show it there).
2. The body is refused above ``max_body`` bytes (413), before it is held whole.
3. Malformed or hostile input answers 400 with the reason, and nothing is handed on.
4. The records go to the async handler; ``success`` is answered only after it returned, so a
   handler that stores them durably makes every push stored at least once. If the handler
   raises, the answer is 500 ``retry`` and the platform pushes again.
5. Optionally a secret path token (``/<token>/reports``) and a source-address allow-list (the
   four nodes' IPs by default when enabled): others get 404 and 403.

Mount it in Starlette/FastAPI (``app.mount("/sms", receiver)``) or serve it alone with uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Final
from urllib.parse import parse_qsl

from .._asgi import BodyTooLarge, Receive, Scope, Send, lifespan, read_body, respond
from .._exceptions import PushFormatError
from ..protocol import (
    NODES,
    DeliveryReport,
    InboundReply,
    PushFormat,
    parse_reply_push,
    parse_report_push,
)

__all__ = ["DEFAULT_ALLOWED_IPS", "WebhookReceiver"]

log = logging.getLogger("m5c_async.webhook")
ReportHandler = Callable[[list[DeliveryReport]], Awaitable[None]]
ReplyHandler = Callable[[list[InboundReply]], Awaitable[None]]

#: The platform's node addresses (§2.2), the default allow-list when one is enabled.
DEFAULT_ALLOWED_IPS: Final = frozenset(n.ip for n in NODES)


class WebhookReceiver:
    """Receive pushed reports and replies and hand them to async handlers.

    Example:
        >>> async def store(reports: list[DeliveryReport]) -> None:
        ...     ...  # write them somewhere durable, then return
        >>> receiver = WebhookReceiver(on_reports=store)
        >>> # app.mount("/sms", receiver)   ->  POST /sms/reports, POST /sms/replies
    """

    def __init__(
        self,
        *,
        on_reports: ReportHandler | None = None,
        on_replies: ReplyHandler | None = None,
        reports_path: str = "/reports",
        replies_path: str = "/replies",
        push_format: PushFormat | str | None = None,
        max_body: int = 4 * 1024 * 1024,
        token: str | None = None,
        allowed_ips: Collection[str] | bool | None = None,
    ) -> None:
        prefix = f"/{token.strip('/')}" if token else ""
        self.routes: dict[str, str] = {}
        if on_reports is not None:
            self.routes[prefix + reports_path] = "report"
        if on_replies is not None:
            self.routes[prefix + replies_path] = "reply"
        if not self.routes:
            raise ValueError("give on_reports, on_replies or both")
        self.on_reports = on_reports
        self.on_replies = on_replies
        self.push_format = PushFormat(push_format) if push_format else None
        self.max_body = max_body
        if allowed_ips is True:
            self.allowed: frozenset[str] | None = DEFAULT_ALLOWED_IPS
        elif allowed_ips in (None, False):
            self.allowed = None
        else:
            assert not isinstance(allowed_ips, bool)
            self.allowed = frozenset(allowed_ips)
        self.received = {"report": 0, "reply": 0}
        self.refused = 0

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
        kind = self.routes.get(path)
        if kind is None:
            await _answer(send, 404, "not found")
            return
        client = (scope.get("client") or ("", 0))[0]
        if self.allowed is not None and client not in self.allowed:
            self.refused += 1
            log.warning("push from %s refused: not an allowed address", client)
            await _answer(send, 403, "forbidden")
            return
        if scope["method"] != "POST":
            await _answer(send, 405, "POST only")
            return
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            self.refused += 1
            await _answer(send, 413, f"body above {self.max_body} bytes")
            return
        fields = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            fields.update(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            )
        except UnicodeDecodeError:
            self.refused += 1
            await _answer(send, 400, "body is not UTF-8")
            return
        data = fields.get("data")
        if data is None:
            self.refused += 1
            await _answer(send, 400, "no data field")
            return
        try:
            if kind == "report":
                reports = parse_report_push(data, self.push_format)
                count = len(reports)
                assert self.on_reports is not None
                handler: Awaitable[None] = self.on_reports(reports)
            else:
                replies = parse_reply_push(data, self.push_format)
                count = len(replies)
                assert self.on_replies is not None
                handler = self.on_replies(replies)
        except PushFormatError as exc:
            self.refused += 1
            log.warning("malformed %s push refused: %s", kind, exc.message)
            await _answer(send, 400, exc.message)
            return
        try:
            await handler
        except Exception:
            log.exception("%s handler failed; answering retry so the platform pushes again", kind)
            await _answer(send, 500, "retry")
            return
        self.received[kind] += count
        await _answer(send, 200, "success")


async def _answer(send: Send, status: int, text: str) -> None:
    await respond(send, status, text.encode("utf-8"), b"text/plain; charset=utf-8")
