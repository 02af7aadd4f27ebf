"""The ASGI app of one simulated node: the platform's endpoints plus ``/_sim/`` admin routes.

Raw ASGI, no framework: the simulator must sustain thousands of requests a second on one core,
so the hot path is a dict lookup, one form parse and the platform's synchronous logic.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Final

import anyio
import orjson

from .._asgi import BodyTooLarge, Disconnected, Receive, Scope, Send, lifespan, read_body
from .._asgi import respond as _respond
from ..protocol import (
    ENDPOINTS,
    NODES,
    Encoding,
    EndpointName,
    ErrorReply,
    RequestError,
    format_soap_fault,
    format_soap_reply,
    read_batch_xml,
    read_form,
    read_json_send,
    read_soap_send,
    read_xml_send,
    wire_encoding,
    wire_text,
)
from ._accounts import AccountState
from ._arrival import ARRIVAL_KEY
from ._faults import NodeFaults
from ._platform import Platform
from ._wsdl import SOAP_PATH, wsdl

__all__ = ["MAX_BODY", "NodeApp"]


#: A 5,000,000-number marketing packet is about 60 MB of form data.
MAX_BODY: Final = 128 * 1024 * 1024
_TEXT: Final = {
    Encoding.UTF8: b"text/plain; charset=utf-8",
    Encoding.GBK: b"text/plain; charset=gbk",
}
#: The paths whose requests may send messages (the catalog's ``sends``): where throttling applies.
_SEND_PATHS: Final = frozenset(e.path for e in ENDPOINTS.values() if e.sends)


#: The request being handled: its arrival stamp (``_arrival.py``), None when the server has none.
_ARRIVED: ContextVar[float | None] = ContextVar("m5c_sim_arrived", default=None)


class NodeApp:
    """One node (``qingdao``, ``beijing``...) in front of the shared ``Platform``.

    Example:
        >>> import httpx
        >>> from m5c_async.simulator import DEMO_ACCOUNT, NodeApp, Platform
        >>> app = NodeApp(Platform([DEMO_ACCOUNT]), "qingdao")
        >>> transport = httpx.ASGITransport(app=app)
        >>> async def balance() -> str:
        ...     async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        ...         reply = await http.get("/api/send/index.php")  # no credentials
        ...         return reply.text
        >>> anyio.run(balance)
        'error:Missing username'
    """

    def __init__(
        self,
        platform: Platform,
        node: str,
        *,
        faults: dict[str, NodeFaults] | None = None,
        on_fault_change: Callable[[str, NodeFaults], Awaitable[None]] | None = None,
    ) -> None:
        self.platform = platform
        self.node = node
        self.faults = faults if faults is not None else {n.name: NodeFaults() for n in NODES}
        self.faults.setdefault(node, NodeFaults())
        self.on_fault_change = on_fault_change
        self._rng = random.Random(hash(node) & 0xFFFF)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        _ARRIVED.set(scope.get(ARRIVAL_KEY))
        try:
            body = await read_body(receive, MAX_BODY)
        except BodyTooLarge:
            await _respond(send, 413, b"request body too large", b"text/plain")
            return
        except Disconnected:
            return  # the client is gone: a half request is neither read nor answered
        if path.startswith("/_sim/"):
            await self._admin(scope, path, body, send)
            return
        fault = self.faults[self.node]
        platform = self.platform
        platform.stats.requests += 1
        platform.stats.per_node[self.node]["requests"] += 1
        rng = self._rng
        if fault.latency or fault.jitter:
            await anyio.sleep(fault.delay(rng))
        if fault.error_ratio and rng.random() < fault.error_ratio:
            platform.stats.errors += 1
            status = rng.choice((500, 502, 503))
            await _respond(send, status, b"<html><body>Server Error</body></html>", b"text/html")
            return
        client = scope.get("client") or ("127.0.0.1", 0)
        query: bytes = scope.get("query_string", b"")
        fields = read_form(query)
        if body and path != SOAP_PATH:
            posted = read_form(body)
            where = platform.settings.format_from
            if where != "either" and "format" in fields | posted:
                # a platform that reads `format` from one place only
                fmt = (fields if where == "query" else posted).get("format", "")
                fields.update(posted)
                fields["format"] = fmt
            else:
                fields.update(posted)
        if path in _SEND_PATHS and fault.throttle_ratio and rng.random() < fault.throttle_ratio:
            await self._text(send, platform.throttled(self.node), Encoding.UTF8)
            return
        if path == SOAP_PATH and scope["method"] == "GET" and "wsdl" in fields:
            await _respond(send, 200, wsdl(_here(scope)), b"text/xml; charset=utf-8")
            return
        handler = _ROUTES.get(path)
        if handler is None:
            await _respond(send, 404, b"not found", b"text/plain")
            return
        await handler(self, scope["method"], fields, body, client[0], send)

    # --- helpers ----------------------------------------------------------------------------

    async def _text(self, send: Send, reply: str, encoding: Encoding | None) -> None:
        enc = encoding or Encoding.UTF8
        await _respond(send, 200, reply.encode(enc.codec, errors="replace"), _TEXT[enc])

    def _auth(self, fields: dict[str, str], client_ip: str) -> AccountState | str:
        return self.platform.auth_fields(fields, client_ip)

    async def _account(
        self, fields: dict[str, str], client_ip: str, send: Send, encoding: Encoding | None
    ) -> AccountState | None:
        """The authenticated account, or None after answering the error reply."""
        account = self._auth(fields, client_ip)
        if isinstance(account, str):
            await self._text(send, account, encoding)
            return None
        return account

    def _guarded(self, account: AccountState, act: Callable[[], str]) -> str | None:
        """Apply the concurrency cap, run the send, and decide whether to drop its reply.

        Returns the reply, or None when the accept-then-drop fault fires.
        """
        account.in_flight += 1
        try:
            if account.in_flight > account.concurrency:
                return self.platform.throttled(self.node)
            reply = act()
        finally:
            account.in_flight -= 1
        fault = self.faults[self.node]
        if (
            reply.startswith("success:")
            and fault.drop_ratio
            and self._rng.random() < fault.drop_ratio
        ):
            self.platform.stats.per_node[self.node]["dropped"] += 1
            return None
        return reply

    async def _reply_or_drop(
        self, send: Send, reply: str | None, encoding: Encoding | None
    ) -> None:
        if reply is None:
            await _drop(send)
        else:
            await self._text(send, reply, encoding)

    # --- endpoints --------------------------------------------------------------------------

    async def _send_index(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        fmt = fields.get("format", "")
        try:
            if fmt == "json":
                fields = read_json_send(fields.get("data", ""))
            elif fmt == "xml":
                fields = read_xml_send(fields.get("data", ""))
        except RequestError as exc:
            await self._text(send, exc.reply, Encoding.UTF8)
            return
        encoding = wire_encoding(fields.get("encode"))
        account = await self._account(fields, ip, send, encoding)
        if account is None:
            return
        reply = self._guarded(
            account,
            lambda: self.platform.send(
                account,
                self.node,
                mobile=fields.get("mobile", ""),
                content=fields.get("content"),
                encode=fields.get("encode"),
                start_time=wire_text(fields.get("startTime", "")),
                ext=wire_text(fields.get("ext", "")),
                arrived=_ARRIVED.get(),
            ),
        )
        await self._reply_or_drop(send, reply, encoding)

    async def _send_batch(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        try:
            account_fields, items = read_batch_xml(fields.get("data", ""))
        except RequestError as exc:
            await self._text(send, exc.reply, Encoding.UTF8)
            return
        encoding = wire_encoding(account_fields.get("encode"))
        account = await self._account(account_fields, ip, send, encoding)
        if account is None:
            return
        rows = [(i.mobile, i.content, wire_text(i.start_time)) for i in items]
        reply = self._guarded(
            account,
            lambda: self.platform.send_batch(
                account, self.node, account_fields.get("encode"), rows, arrived=_ARRIVED.get()
            ),
        )
        await self._reply_or_drop(send, reply, encoding)

    async def _soap(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        if method == "GET":  # ?wsdl is answered before the routes, where the scope is known
            await _respond(send, 405, b"POST a SOAP envelope, or GET ?wsdl", b"text/plain")
            return
        try:
            call = read_soap_send(body)
        except RequestError:
            await _respond(
                send,
                500,
                format_soap_fault("SOAP-ENV:Client", "not a sendsms call"),
                b"text/xml; charset=utf-8",
            )
            return
        account = self.platform.auth_soap(call, ip)
        if isinstance(account, str):
            await _respond(send, 200, format_soap_reply(account), b"text/xml; charset=utf-8")
            return
        reply = self._guarded(
            account,
            lambda: self.platform.send(
                account,
                self.node,
                mobile=call.get("mobile", ""),
                content=call.get("content"),
                encode="UTF-8",
                plain_content=True,
                arrived=_ARRIVED.get(),
            ),
        )
        if reply is None:
            await _drop(send)
        else:
            await _respond(send, 200, format_soap_reply(reply), b"text/xml; charset=utf-8")

    async def _query(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        encoding = wire_encoding(fields.get("encode")) or Encoding.UTF8
        account = await self._account(fields, ip, send, encoding)
        if account is None:
            return
        action = fields.get("action", "")
        if action in ("record", "billing"):
            window = _window(fields)
            if isinstance(window, str):
                await self._text(send, window, encoding)
                return
            if action == "record":
                reply = self.platform.records(account, *window, encoding)
            else:
                agent = wire_text(fields.get("agent_username", ""))
                reply = self.platform.billing(account, agent, *window)
        else:
            reply = self.platform.balance(account)
        await self._text(send, reply, encoding)

    async def _recv(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        account = await self._account(fields, ip, send, Encoding.UTF8)
        if account is None:
            return
        if any(k in fields for k in ("from", "to", "mobile")):
            window = _window(fields)
            if isinstance(window, str):
                reply = window
            elif not fields.get("mobile"):
                reply = ErrorReply.MISSING_RECIPIENT
            else:
                reply = self.platform.reports_for(account, fields["mobile"], *window)
        else:
            reply = self.platform.pull_reports(account)
        await self._text(send, reply, Encoding.UTF8)

    async def _reply(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        encoding = wire_encoding(fields.get("encode")) or Encoding.UTF8
        account = await self._account(fields, ip, send, encoding)
        if account is None:
            return
        if fields.get("action") == "queryByCondition":
            window = _window(fields)
            if isinstance(window, str):
                reply = window
            else:
                reply = self.platform.replies_between(
                    account, *window, fields.get("mobile", ""), encoding
                )
        else:
            reply = self.platform.pull_replies(account, fields.get("debug") == "1", encoding)
        await self._text(send, reply, encoding)

    async def _black(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        account = await self._account(fields, ip, send, Encoding.UTF8)
        if account is None:
            return
        mobile = fields.get("mobile", "")
        action = fields.get("action", "check")
        if not mobile:
            reply: str = ErrorReply.MISSING_RECIPIENT
        elif action == "add":
            reply = self.platform.blacklist_remove(account, mobile)
        else:
            reply = self.platform.blacklist_check(account, mobile)
        await self._text(send, reply, Encoding.UTF8)

    async def _bind(
        self, method: str, fields: dict[str, str], body: bytes, ip: str, send: Send
    ) -> None:
        account = await self._account(fields, ip, send, Encoding.UTF8)
        if account is None:
            return
        await self._text(send, self.platform.bind(account, fields.get("ip", "")), Encoding.UTF8)

    # --- admin ------------------------------------------------------------------------------

    async def _admin(self, scope: Scope, path: str, body: bytes, send: Send) -> None:
        method = scope["method"]
        try:
            doc: Any = orjson.loads(body) if body else {}
            result = await self._admin_route(method, path, doc, scope)
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            await _respond(send, 400, orjson.dumps({"error": str(exc)}), b"application/json")
            return
        if result is None:
            await _respond(send, 404, b'{"error": "not found"}', b"application/json")
            return
        await _respond(send, 200, orjson.dumps(result), b"application/json")

    async def _admin_route(self, method: str, path: str, doc: Any, scope: Scope) -> Any:
        platform = self.platform
        if path == "/_sim/stats":
            return platform.snapshot()
        if path == "/_sim/faults":
            if method == "POST":
                node = str(doc.pop("node", self.node))
                fault = self.faults[node]
                fault.update(doc)
                if self.on_fault_change is not None:
                    await self.on_fault_change(node, fault)
            return {name: f.as_dict() for name, f in self.faults.items()}
        if path == "/_sim/reply" and method == "POST":
            reply_id = platform.inject_reply(
                doc["username"], doc["mobile"], doc["content"], str(doc.get("ext", ""))
            )
            return {"replyid": reply_id}
        if path == "/_sim/account" and method == "POST":
            account = platform.account(doc["username"])
            if "balance" in doc:
                account.balance = int(doc["balance"])
            if "blocked" in doc:
                account.blocked = bool(doc["blocked"])
            if "rate" in doc:
                account.set_rate(float(doc["rate"]))
            for key in ("report_push_url", "reply_push_url"):
                if key in doc:
                    setattr(account, key, doc[key] or None)
            for mobile, kind in doc.get("blacklist", []):
                platform.blacklist_add(account.config.username, mobile, kind)
            if "black_keywords" in doc:
                account.black_keywords = tuple(doc["black_keywords"])
            return {"username": account.config.username, "balance": account.balance}
        if path == "/_sim/throttle" and method == "POST":
            node = str(doc.get("node", self.node))
            platform.throttle_storm[node] = platform.clock() + float(doc["seconds"])
            return {"node": node, "seconds": float(doc["seconds"])}
        if path == "/_sim/ledger":
            return [
                {
                    "msgid": e.msgid,
                    "username": e.username,
                    "mobiles": list(e.mobiles),
                    "content": e.content,
                    "node": e.node,
                    "at": e.at,
                }
                for e in platform.ledger
            ]
        return None


Handler = Callable[[NodeApp, str, dict[str, str], bytes, str, Send], Awaitable[None]]

#: Handlers by the catalog's paths (several endpoints share a path: the handler reads the fields).
_ROUTES: Final[dict[str, Handler]] = {
    ENDPOINTS[EndpointName.SEND].path: NodeApp._send_index,
    ENDPOINTS[EndpointName.SEND_BATCH].path: NodeApp._send_batch,
    ENDPOINTS[EndpointName.SEND_SOAP].path: NodeApp._soap,
    ENDPOINTS[EndpointName.BALANCE].path: NodeApp._query,
    ENDPOINTS[EndpointName.REPORTS].path: NodeApp._recv,
    ENDPOINTS[EndpointName.REPLIES].path: NodeApp._reply,
    ENDPOINTS[EndpointName.BLACKLIST_CHECK].path: NodeApp._black,
    ENDPOINTS[EndpointName.BIND_IP].path: NodeApp._bind,
}


def _here(scope: Scope) -> str:
    """The service's absolute URL as the caller reached it: scheme, Host header, path."""
    host = ""
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host or any(ch in host for ch in "/\\ \t\r\n\"'<>"):
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{SOAP_PATH}"


def _window(fields: dict[str, str]) -> tuple[int, int] | str:
    low, high = fields.get("from", ""), fields.get("to", "")
    if not low.isdigit():
        return ErrorReply.MISSING_FROM
    if not high.isdigit():
        return ErrorReply.MISSING_TO
    return int(low), int(high)


async def _drop(send: Send) -> None:
    """Promise a body and stop half-way: the server closes the connection mid-reply."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": b"succ", "more_body": True})
