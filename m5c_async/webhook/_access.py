"""Who may push: the secret path token, the source-address allow-list, trusted proxies.

Rules:

1. A receiver has a secret path token (``/<token>/reports``) unless it is built ``insecure=True``,
   which logs a warning: the platform signs nothing (§7, §9), so the token is what stops a forged
   report. Tokens are at least 16 URL-safe characters and compared in constant time.
2. The allow-list holds addresses or networks; ``True`` means the four nodes of §2.2.
3. ``X-Forwarded-For`` is believed only when the connecting peer is a configured trusted proxy;
   then the client is the right-most address in the header that is not itself a trusted proxy.
   From any other peer the header is ignored, so it cannot bypass the allow-list.
4. The token and pushed data stay out of logs: uvicorn's access log (``uvicorn.access``) writes
   each request's path and query string, so a receiver redacts it there (the token becomes
   ``<token>``, a query string on its paths becomes ``?…``; without a token, the query string
   of any path ending in one of its push paths). Other servers' access logs must be configured
   by whoever runs them (docs/webhook.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Collection, Iterable
from typing import Final

from .._exceptions import InvalidParameterError
from ..protocol import NODES

__all__ = [
    "DEFAULT_ALLOWED_IPS",
    "AddressSet",
    "allow_list",
    "check_token",
    "client_address",
    "redact_access_log",
    "token_matches",
]

log = logging.getLogger("m5c_async.webhook")

#: The platform's node addresses (§2.2), the default allow-list when one is enabled.
DEFAULT_ALLOWED_IPS: Final = frozenset(n.ip for n in NODES)
_TOKEN: Final = re.compile(r"[A-Za-z0-9_~.-]{16,128}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressSet:
    """A set of IP addresses and networks.

    Example:
        >>> AddressSet(["10.0.0.0/8", "127.0.0.1"]).contains("10.1.2.3")
        True
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(_network(e) for e in entries if str(e).strip())

    def contains(self, address: str) -> bool:
        """Whether ``address`` (v4 or v6, unparsable is never in) is in the set."""
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


def _network(entry: str) -> Network:
    try:
        return ipaddress.ip_network(str(entry).strip(), strict=False)
    except ValueError:
        raise InvalidParameterError(f"not an IP address or network: {entry!r}") from None


def allow_list(allowed_ips: Collection[str] | bool | None) -> AddressSet | None:
    """``True``: the nodes of §2.2; ``None``/``False``: no allow-list; else the given entries."""
    if allowed_ips is True:
        return AddressSet(DEFAULT_ALLOWED_IPS)
    if allowed_ips is None or allowed_ips is False:
        return None
    return AddressSet(allowed_ips)


def check_token(token: str | None, *, insecure: bool) -> str | None:
    """Validate the token (rule 1); returns it stripped of slashes.

    Raises:
        InvalidParameterError: no token and not insecure, or a token too short or with odd
            characters.
    """
    if token is None or token == "":
        if not insecure:
            raise InvalidParameterError(
                "the webhook needs a secret path token (token=...), or insecure=True to run open"
            )
        log.warning(
            "webhook receiver runs WITHOUT a path token: anyone who reaches it can write reports"
        )
        return None
    token = token.strip("/")
    if not _TOKEN.fullmatch(token):
        raise InvalidParameterError("the path token must be 16-128 URL-safe characters")
    return token


def token_matches(token: str | None, segment: str) -> bool:
    """Constant-time comparison of a path segment with the token."""
    if token is None:
        return True
    return hmac.compare_digest(token.encode(), segment.encode("utf-8", "replace"))


def client_address(peer: str, forwarded_for: str | None, trusted: AddressSet | None) -> str:
    """The push's source address (rule 3)."""
    if not forwarded_for or trusted is None or not trusted.contains(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted.contains(hop):
            return hop
    return hops[0] if hops else peer


class _AccessLogRedaction(logging.Filter):
    """Rewrites uvicorn's access-log records: tokens redacted, their paths' queries dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        #: Push paths of receivers without a token: their query strings are dropped.
        self.paths: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and (self.tokens or self.paths):
            record.args = tuple(self._redact(a) if isinstance(a, str) else a for a in record.args)
        return True

    def _redact(self, text: str) -> str:
        for token in self.tokens:
            if token in text:
                path, _, query = text.replace(token, "<token>").partition("?")
                text = path + ("?…" if query else "")
        path, _, query = text.partition("?")
        if query and any(path.rstrip("/").endswith(p) for p in self.paths):
            text = path + "?…"
        return text


_REDACTION: Final = _AccessLogRedaction()


def redact_access_log(token: str | None, paths: Iterable[str] = ()) -> None:
    """Keep ``token`` and the data pushed under it out of uvicorn's access log; without a
    token, the data pushed on ``paths`` (rule 4)."""
    if token is not None:
        _REDACTION.tokens.add(token)
    else:
        _REDACTION.paths.update(p.rstrip("/") for p in paths if p.strip("/"))
    access = logging.getLogger("uvicorn.access")
    if _REDACTION not in access.filters:
        access.addFilter(_REDACTION)
