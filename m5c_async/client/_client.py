"""AsyncClient: one coroutine per endpoint, with failover across nodes, over a wire: ``FastWire``
by default, ``HttpxWire`` when an httpx client or transport is given.

Failure rules (docs/client.md, "Failover"):

1. A connect error, DNS failure, connect timeout or pool timeout means the request never left:
   the next node is tried at once, for every endpoint.
2. An HTTP status is read through one table (``_status.py``): 2xx is the platform's answer; a
   4xx (but 408) or an unfollowed redirect means the node refused the request before processing
   it: the next node is tried, for every endpoint, and when every node refused,
   ``AllNodesRefusedError`` is raised; a 5xx or 408 may have been processed (rule 3).
3. A read timeout, a dropped connection, an HTTP 5xx or 408, an oversized or malformed reply
   after a *send* means the platform may have accepted it: ``AmbiguousOutcomeError`` is raised
   with what is needed to reconcile, and the send is never repeated by the client.
4. Read-only queries (balance, records, billing, report-by-number, reply-by-condition, blacklist
   check) are retried on the next node after any transport failure.
5. Consuming pulls (reports, replies) and state changes (blacklist removal, IP binding) are not
   repeated after the request may have reached the platform: the error is raised
   (``TransportError``, or ``HTTPStatusError`` for a status).
6. A reply of the platform (``error:...``) is never a node failure; it raises its mapped class.

Every error text is scrubbed of the password, its md5 and the apikey in any encoding
(``_secrets.py``), and so are the log lines of this library and of httpx/httpcore.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Self, TypeVar
from urllib.parse import unquote, urlsplit

import httpx

from .._exceptions import (
    AllNodesFailedError,
    AllNodesRefusedError,
    AmbiguousOutcomeError,
    HTTPStatusError,
    InvalidNumberError,
    InvalidParameterError,
    M5CError,
    NodeUnavailableError,
    ProviderError,
    ReplyFormatError,
    ReplyTooLargeError,
    TransportError,
)
from ..protocol import (
    ENDPOINTS,
    NODES,
    PROFILES,
    Balance,
    BatchItem,
    BillingEntry,
    BlacklistStatus,
    BusinessType,
    Credentials,
    DeliveryReport,
    Encoding,
    InboundReply,
    PushBatch,
    Recipients,
    RejectReason,
    RequestSpec,
    Scheme,
    SendFormat,
    SendRecord,
    build_balance,
    build_billing,
    build_bind_ips,
    build_blacklist_check,
    build_blacklist_remove,
    build_records,
    build_replies,
    build_replies_between,
    build_reports,
    build_reports_for,
    build_send,
    build_send_batch,
    decode_reply,
    is_mainland,
    mask,
    node_by_name,
    normalize,
    normalize_encoding,
    parse_balance,
    parse_billing,
    parse_bind,
    parse_blacklist_check,
    parse_blacklist_remove,
    parse_records,
    parse_replies,
    parse_reports,
    parse_send,
    parse_soap_send,
    read_number,
    read_reply_pull,
    read_report_pull,
    split_numbers,
)
from ._breaker import BreakerConfig, CircuitBreaker
from ._models import SendReceipt, Timeouts
from ._secrets import Scrubber, guard_logs
from ._status import Meaning, meaning
from ._transports import (
    FastWire,
    HttpxWire,
    MaybeSent,
    NeverSent,
    ReplyTooLarge,
    Wire,
    make_ssl_context,
)

__all__ = ["AsyncClient", "NodeTarget"]

log = logging.getLogger("m5c_async")
T = TypeVar("T")

#: No documented reply comes near this; a 50 MB body is refused without being held.
DEFAULT_MAX_REPLY_BYTES: Final = 8 * 1024 * 1024
#: Endpoints whose failed request may be asked of the next node (the catalog says which).
_READ_ONLY: Final = frozenset(name for name, e in ENDPOINTS.items() if e.read_only)


@dataclass(slots=True)
class NodeTarget:
    """One node as the client sees it: a name, a base URL and its circuit breaker.

    The base URL's path is kept (``https://gw.example/sms`` sends to
    ``/sms/api/send/index.php``).
    """

    name: str
    base_url: str
    breaker: CircuitBreaker


@dataclass(frozen=True, slots=True)
class _Outcome:
    text: str
    node: str
    started: float


class AsyncClient:
    """The 5c platform's API as coroutines, one per endpoint.

    Create one per application (in a web app's lifespan) and share it: it owns one connection
    pool. Credentials never appear in its repr, its errors or its logs.

    Connection options (both wires): ``proxy`` (``http://[user:pass@]host:port``; https goes
    through ``CONNECT``); ``trust_env`` (default True: ``HTTP_PROXY`` / ``HTTPS_PROXY`` /
    ``NO_PROXY`` are honoured when ``proxy`` is not given); ``ssl_context``, or ``verify``
    (``False`` for an unverified context, a path for a CA bundle). A node's base URL keeps its
    path: ``"https://gw.example/sms"`` sends to ``/sms/api/send/index.php``.

    Example:
        >>> async def main() -> None:
        ...     async with AsyncClient(username="mlrt", password="pw", apikey="k" * 32,
        ...                            nodes=["http://127.0.0.1:8800"]) as sms:
        ...         receipt = await sms.send(["13800138000"], "验证码：1234【示例】")
    """

    def __init__(
        self,
        *,
        username: str,
        apikey: str,
        password: str | None = None,
        password_md5: str | None = None,
        nodes: Sequence[str] | None = None,
        scheme: Scheme | str = Scheme.HTTPS,
        method: str = "POST",
        encode: Encoding | str = Encoding.UTF8,
        profile: BusinessType | str = BusinessType.NOTIFICATION,
        timeouts: Timeouts | None = None,
        max_connections: int = 100,
        breaker: BreakerConfig | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        wire: str = "fast",
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool | str | os.PathLike[str] = True,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._creds = Credentials.create(
            username=username, apikey=apikey, password=password, password_md5=password_md5
        )
        self._scrub = Scrubber([*self._creds.secrets(), password or "", _proxy_password(proxy)])
        guard_logs(self._scrub)
        self.proxy = proxy
        self.trust_env = trust_env
        context = tls_context(ssl_context, verify)
        self.method = method.upper()
        if self.method not in ("GET", "POST"):
            raise InvalidParameterError("method must be GET or POST")
        self.encoding = normalize_encoding(encode)
        self.profile = PROFILES[BusinessType(profile)]
        self.timeouts = timeouts or Timeouts()
        self.max_reply_bytes = max_reply_bytes
        self._clock = clock
        self._wall = wall
        self.nodes = _targets(nodes, Scheme(scheme), breaker or BreakerConfig())
        self._wire: Wire
        if wire not in ("fast", "httpx"):
            raise InvalidParameterError("wire must be 'fast' or 'httpx'")
        if http_client is not None:
            if proxy is not None or ssl_context is not None or verify is not True:
                raise InvalidParameterError(
                    "proxy, ssl_context and verify configure the client's own connections: "
                    "set them on the httpx client passed as http_client instead"
                )
            self._wire = HttpxWire(http_client, max_reply_bytes=max_reply_bytes, owned=False)
        elif transport is not None or wire == "httpx":
            self._wire = HttpxWire.create(
                timeouts=self.timeouts,
                max_connections=max_connections,
                max_reply_bytes=max_reply_bytes,
                ssl_context=context,
                proxy=proxy,
                trust_env=trust_env,
                transport=transport,
            )
        else:
            self._wire = FastWire(
                timeouts=self.timeouts,
                max_connections=max_connections,
                max_reply_bytes=max_reply_bytes,
                ssl_context=context,
                proxy=proxy,
                trust_env=trust_env,
            )

    def __repr__(self) -> str:
        names = ", ".join(self._scrub(n.name) for n in self.nodes)
        return f"AsyncClient(username={self._creds.username!r}, nodes=[{names}])"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (an httpx client passed in is left to its owner)."""
        await self._wire.aclose()

    @property
    def username(self) -> str:
        """The account's username."""
        return self._creds.username

    def health(self) -> dict[str, str]:
        """Each node's circuit state, for progress displays."""
        return {n.name: n.breaker.state.value for n in self.nodes}

    # --- sending --------------------------------------------------------------------------

    async def send(
        self,
        mobiles: Iterable[str] | str,
        content: str,
        *,
        at: datetime | None = None,
        ext: str | int | None = None,
        format: SendFormat | str = SendFormat.FORM,
    ) -> SendReceipt:
        """Send one content to one or more numbers.

        Args:
            mobiles: numbers, or one string of numbers separated by commas or semicolons.
            content: 1 to 500 characters.
            at: an aware datetime for a scheduled send.
            ext: extension number, 1 to 10 digits.
            format: form, json, xml or soap.

        Returns:
            The receipt: msgid, numbers sent, numbers rejected with reasons, node.

        Raises:
            InvalidRequestError: nothing valid to send, too many numbers, bad content or time.
            ProviderError: the platform's ``error:...`` reply (``ThrottledError`` is retry-safe).
            AmbiguousOutcomeError: the platform may have accepted it; reconcile, do not resend.
            AllNodesFailedError: no node could be reached.
        """
        fmt = SendFormat(format)
        numbers = split_numbers(mobiles) if isinstance(mobiles, str) else list(mobiles)
        recipients = Recipients()
        accepted = list(recipients.accept(numbers))
        if not accepted:
            detail = ", ".join(f"{r.number!r}: {r.reason.value}" for r in recipients.rejected[:5])
            raise InvalidNumberError(f"no valid number to send to ({detail or 'none given'})")
        if len(accepted) > self.profile.packet_size:
            raise InvalidParameterError(
                f"{len(accepted)} numbers exceed the {self.profile.kind.value} packet size "
                f"of {self.profile.packet_size}"
            )
        receipt = await self.send_prepared(accepted, content, at=at, ext=ext, format=fmt)
        if recipients.rejected:
            return replace(receipt, rejected=tuple(recipients.rejected))
        return receipt

    async def send_prepared(
        self,
        numbers: Sequence[str],
        content: str,
        *,
        at: datetime | None = None,
        ext: str | int | None = None,
        format: SendFormat = SendFormat.FORM,
    ) -> SendReceipt:
        """Send one content to numbers already prepared: the engine's hot path.

        Unlike ``send``, the numbers are not checked again: each must already be normalised
        (``protocol.normalize`` or ``Recipients``), distinct, and at most the profile's packet
        size. Content, time and extension are still checked by the request's encoder.

        Args:
            numbers: normalised, de-duplicated numbers.
            content: 1 to 500 characters.
            at: an aware datetime for a scheduled send.
            ext: extension number, 1 to 10 digits.
            format: form, json, xml or soap.

        Returns:
            The receipt; ``sent_at`` is the Unix time (wall clock) the request left.

        Raises:
            The same errors as ``send``.
        """
        spec = build_send(
            self._creds,
            numbers,
            content,
            encoding=self.encoding,
            at=at,
            ext=ext,
            method=self.method,
            format=format,
            now=datetime.fromtimestamp(self._wall(), tz=UTC) if at is not None else None,
        )
        outcome = await self._call(spec, mobiles=numbers, content=content)
        msgid = self._parse_send(outcome, spec, numbers, content, format)
        return SendReceipt(
            msgid=msgid,
            accepted=tuple(numbers),
            rejected=(),
            node=outcome.node,
            format=format,
            sent_at=outcome.started,
        )

    async def send_batch(self, items: Sequence[BatchItem]) -> SendReceipt:
        """Send several contents in one ``sms_batch.php`` request (domestic numbers only).

        Every item's numbers are normalised; the receipt lists them all under one msgid.

        Raises:
            InvalidNumberError: a number that is invalid, or international (``domestic-only``:
                the document's batch interface takes domestic numbers only, §3.5).
        """
        normalised = []
        for item in items:
            numbers = tuple(normalize(m) for m in item.mobiles)
            for number in numbers:
                if not is_mainland(number):
                    raise InvalidNumberError(
                        f"sms_batch.php takes domestic numbers only: {number!r}",
                        number=number,
                        reason=RejectReason.DOMESTIC_ONLY,
                    )
            normalised.append(BatchItem(mobiles=numbers, content=item.content, at=item.at))
        all_numbers = [m for item in normalised for m in item.mobiles]
        spec = build_send_batch(
            self._creds,
            normalised,
            encoding=self.encoding,
            now=datetime.fromtimestamp(self._wall(), tz=UTC),
        )
        summary = normalised[0].content if len(normalised) == 1 else "<batch>"
        outcome = await self._call(spec, mobiles=all_numbers, content=summary)
        msgid = self._parse_send(outcome, spec, all_numbers, summary, SendFormat.FORM)
        return SendReceipt(
            msgid=msgid,
            accepted=tuple(all_numbers),
            rejected=(),
            node=outcome.node,
            format=SendFormat.FORM,
            sent_at=outcome.started,
        )

    def _parse_send(
        self,
        outcome: _Outcome,
        spec: RequestSpec,
        mobiles: Sequence[str],
        content: str,
        fmt: SendFormat,
    ) -> str:
        try:
            if fmt is SendFormat.SOAP:
                return parse_soap_send(outcome.text, node=outcome.node)
            return parse_send(outcome.text, node=outcome.node, endpoint=spec.endpoint.value)
        except ReplyFormatError as exc:
            # A garbled answer to a send says nothing about whether it was accepted.
            self._scrub.error(exc)
            raise self._ambiguous(
                spec, outcome.node, mobiles, content, outcome.started, exc
            ) from exc
        except M5CError as exc:
            self._scrub.error(exc)
            raise

    # --- queries --------------------------------------------------------------------------

    async def balance(self) -> Balance:
        """The account's remaining and total balance (§4.1)."""
        return await self._query(build_balance(self._creds, method=self.method), parse_balance)

    async def records(self, start: datetime, end: datetime) -> list[SendRecord]:
        """Send records between two aware datetimes (``action=record``, §5.1)."""
        spec = build_records(self._creds, start, end, encoding=self.encoding, method=self.method)
        return await self._query(spec, lambda t: parse_records(t, self.encoding))

    async def billing(
        self, start: datetime, end: datetime, agent: str | None = None
    ) -> list[BillingEntry]:
        """Sent totals and balances of the account and its sub-accounts (§5.1)."""
        spec = build_billing(
            self._creds, start, end, agent=agent, encoding=self.encoding, method=self.method
        )
        return await self._query(spec, parse_billing)

    async def reports(self) -> list[DeliveryReport]:
        """Pull pending delivery reports (§6.1.2). The platform forgets what it returns."""
        return await self._query(build_reports(self._creds, method=self.method), parse_reports)

    async def pull_reports(self) -> PushBatch[DeliveryReport]:
        """Pull pending delivery reports, record by record: what does not parse is quarantined
        (with its raw text) instead of failing the pull, because the platform forgets what it
        returned. The journal's pull loop and ``m5c reports`` store both parts."""
        return await self._query(build_reports(self._creds, method=self.method), read_report_pull)

    async def reports_for(
        self, mobiles: Iterable[str], start: datetime, end: datetime
    ) -> list[DeliveryReport]:
        """Delivery reports of given numbers in a time window (§6.1.3); repeatable."""
        numbers = [read_number(m) for m in mobiles]
        spec = build_reports_for(self._creds, numbers, start, end, method=self.method)
        return await self._query(spec, parse_reports)

    async def replies(self, debug: bool = False) -> list[InboundReply]:
        """Pull handset replies (§8.1); consumed unless ``debug``."""
        spec = build_replies(self._creds, debug=debug, encoding=self.encoding, method=self.method)
        return await self._query(spec, lambda t: parse_replies(t, self.encoding))

    async def pull_replies(self, debug: bool = False) -> PushBatch[InboundReply]:
        """Pull handset replies record by record (``pull_reports``); consumed unless ``debug``."""
        spec = build_replies(self._creds, debug=debug, encoding=self.encoding, method=self.method)
        return await self._query(spec, lambda t: read_reply_pull(t, self.encoding))

    async def replies_between(
        self, start: datetime, end: datetime, mobiles: Iterable[str] | None = None
    ) -> list[InboundReply]:
        """Replies in a time window, optionally of given numbers (§8.2); repeatable."""
        numbers = [read_number(m) for m in mobiles] if mobiles is not None else None
        spec = build_replies_between(
            self._creds, start, end, mobiles=numbers, encoding=self.encoding, method=self.method
        )
        return await self._query(spec, lambda t: parse_replies(t, self.encoding))

    async def blacklist_check(self, mobile: str) -> BlacklistStatus:
        """Whether a number is on the platform's blacklist (§10.1)."""
        spec = build_blacklist_check(self._creds, read_number(mobile), method=self.method)
        return await self._query(spec, parse_blacklist_check)

    async def blacklist_remove(self, mobile: str) -> None:
        """Remove a number from the blacklist for this account (§10.2).

        Raises:
            BlacklistOperationError: not blacklisted, or removal not allowed (complaints).
        """
        spec = build_blacklist_remove(self._creds, read_number(mobile), method=self.method)
        await self._query(spec, parse_blacklist_remove)

    async def bind_ips(self, ips: Sequence[str]) -> str:
        """Bind the account to these IPv4 addresses; others then get ``UnauthorizedIPError``."""
        return await self._query(build_bind_ips(self._creds, ips, method=self.method), parse_bind)

    async def _query(self, spec: RequestSpec, parse: Callable[[str], T]) -> T:
        outcome = await self._call(spec)
        try:
            return parse(outcome.text)
        except ProviderError as exc:
            if exc.node is None:
                exc.node = outcome.node
            self._scrub.error(exc)
            raise
        except M5CError as exc:  # ReplyFormatError and the like: it quotes the reply
            self._scrub.error(exc)
            raise

    # --- transport ------------------------------------------------------------------------

    async def _call(
        self,
        spec: RequestSpec,
        *,
        mobiles: Sequence[str] = (),
        content: str = "",
    ) -> _Outcome:
        endpoint = ENDPOINTS[spec.endpoint]
        name = spec.endpoint.value
        failures: dict[str, M5CError] = {}
        for node in self.nodes:
            if not node.breaker.allow(self._clock()):
                failures[node.name] = NodeUnavailableError(
                    "circuit open", node=node.name, endpoint=name
                )
                continue
            started = self._wall()
            began = self._clock()
            try:
                reply = await self._wire.exchange(node.base_url, spec)
            except NeverSent as exc:
                node.breaker.failure(self._clock())
                cause = self._scrub(str(exc))
                failures[node.name] = NodeUnavailableError(cause, node=node.name, endpoint=name)
                log.warning("node %s unreachable for %s: %s", node.name, name, cause)
                continue
            except MaybeSent as exc:
                node.breaker.failure(self._clock())
                if endpoint.sends:
                    raise self._ambiguous(spec, node.name, mobiles, content, started, exc) from exc
                kind = ReplyTooLargeError if isinstance(exc, ReplyTooLarge) else TransportError
                error = kind(
                    f"{name} failed on {node.name}: {self._scrub(str(exc))}",
                    node=node.name,
                    endpoint=name,
                )
                if spec.endpoint not in _READ_ONLY:
                    raise error from exc
                error.__cause__ = exc
                failures[node.name] = error
                continue
            status = reply.status
            if status == 200 or meaning(status) is Meaning.REPLY:
                node.breaker.success()
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s %s via %s: HTTP %d, %d numbers, %.1f ms",
                        spec.method,
                        name,
                        node.name,
                        status,
                        len(mobiles),
                        (self._clock() - began) * 1000,
                    )
                text = decode_reply(reply.body, spec)
                return _Outcome(text=text, node=node.name, started=started)
            error = self._status_error(spec, node.name, status, reply.body)
            if error.refused:
                # Refused before processing: the node is up, the request had no effect there.
                log.warning("node %s refused %s: HTTP %d", node.name, name, status)
                failures[node.name] = error
                continue
            node.breaker.failure(self._clock())
            if endpoint.sends:
                raise self._ambiguous(spec, node.name, mobiles, content, started, error) from error
            if spec.endpoint not in _READ_ONLY:
                raise error
            log.warning("node %s failed %s: HTTP %d", node.name, name, status)
            failures[node.name] = error
        if failures and all(
            isinstance(e, HTTPStatusError) and e.refused for e in failures.values()
        ):
            raise AllNodesRefusedError(failures, endpoint=name)
        raise AllNodesFailedError(failures, endpoint=name)

    def _status_error(
        self, spec: RequestSpec, node: str, status: int, body: bytes
    ) -> HTTPStatusError:
        """A non-2xx reply as a named, scrubbed error (its body may echo the request)."""
        refused = meaning(status) is Meaning.REFUSED
        text = self._scrub(body[:400].decode("utf-8", "replace"))
        what = "refused" if refused else "failed"
        return HTTPStatusError(
            f"HTTP {status} from {node}: {spec.endpoint.value} {what}",
            status=status,
            refused=refused,
            text=text,
            node=node,
            endpoint=spec.endpoint.value,
        )

    def _ambiguous(
        self,
        spec: RequestSpec,
        node: str,
        mobiles: Sequence[str],
        content: str,
        started: float,
        exc: BaseException,
    ) -> AmbiguousOutcomeError:
        cause = self._scrub(exc.message if isinstance(exc, M5CError) else str(exc))
        first = mask(mobiles[0]) if mobiles else "-"
        log.warning(
            "ambiguous %s on %s (%d numbers, first %s): %s",
            spec.endpoint.value,
            node,
            len(mobiles),
            first,
            cause,
        )
        return AmbiguousOutcomeError(
            f"{spec.endpoint.value} on {node} may have been accepted ({cause}); "
            "reconcile with records() before resending",
            node=node,
            endpoint=spec.endpoint.value,
            mobiles=tuple(mobiles),
            content=content,
            started_at=started,
            ended_at=self._wall(),
            cause=cause,
        )


def _targets(
    nodes: Sequence[str] | None, scheme: Scheme, breaker: BreakerConfig
) -> list[NodeTarget]:
    if isinstance(nodes, str):
        raise InvalidParameterError("nodes must be a list of node names or base URLs")
    chosen = list(nodes) if nodes else [n.name for n in NODES]
    if not chosen:
        raise InvalidParameterError("at least one node is required")
    targets = []
    for item in chosen:
        if "://" in item:
            url = item.rstrip("/")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InvalidParameterError(f"node URL {url!r}: use http(s)://host[:port][/path]")
            if parts.query or parts.fragment:
                raise InvalidParameterError(f"node URL {url!r}: no query or fragment")
            targets.append(NodeTarget(name=url, base_url=url, breaker=CircuitBreaker(breaker)))
            continue
        try:
            node = node_by_name(item)
        except KeyError:
            raise InvalidParameterError(
                f"unknown node {item!r}: use qingdao, beijing, hongkong, us or a base URL"
            ) from None
        targets.append(
            NodeTarget(
                name=node.name, base_url=node.base_url(scheme), breaker=CircuitBreaker(breaker)
            )
        )
    return targets


def tls_context(
    ssl_context: ssl.SSLContext | None, verify: bool | str | os.PathLike[str]
) -> ssl.SSLContext:
    """The TLS context both wires use: ``make_ssl_context``'s rule (the context given, the
    system's verifying one, or with ``verify=False`` an unverifying one), and ``verify=<path>``
    for a CA bundle.

    Raises:
        InvalidParameterError: ``ssl_context`` with ``verify`` other than True, or a CA file that
            cannot be read.
    """
    if isinstance(verify, bool):
        return make_ssl_context(ssl_context, verify)
    if ssl_context is not None:
        raise InvalidParameterError("pass ssl_context or verify, not both")
    try:
        return ssl.create_default_context(cafile=os.fspath(verify))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidParameterError(
            f"verify: cannot load CA file {os.fspath(verify)!r} ({type(exc).__name__})"
        ) from None


def _proxy_password(proxy: str | None) -> str:
    """The password in a proxy URL's userinfo, a secret like the account's."""
    if not proxy:
        return ""
    try:
        password = urlsplit(proxy).password
    except ValueError:
        return ""
    return unquote(password) if password else ""
