"""Which proxy a request goes through: an explicit ``proxy=``, or the environment's
``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``, read as httpx and requests read
them.

Rules (one place; both wires and the client use them):

- An explicit proxy is used for every URL; ``NO_PROXY`` does not apply to it.
- Otherwise, only when ``trust_env`` is true: ``http_proxy`` for ``http://`` URLs,
  ``https_proxy`` for ``https://`` URLs, then ``all_proxy``; the lowercase name wins over the
  uppercase one, an empty value counts as unset, and uppercase ``HTTP_PROXY`` is ignored when
  ``REQUEST_METHOD`` is set (a CGI process, where any client could set it: "httpoxy").
- ``no_proxy`` / ``NO_PROXY`` is a comma-separated list: ``*`` (no proxy at all), a host name
  (matching it and its subdomains; a leading ``.`` or ``*.`` is allowed), an IP address, a CIDR
  network (``10.0.0.0/8``), an IPv6 address with or without brackets, each optionally with
  ``:port``.
- A proxy URL without a scheme is ``http://``. Only ``http://`` proxies are supported (plain
  requests in absolute form, ``https://`` targets through ``CONNECT``); other schemes are
  refused with ``InvalidParameterError``.
- ``user:password@`` in the proxy URL becomes ``Proxy-Authorization: Basic``; it is never logged
  and never shown in a repr or an error (``ProxyURL.display`` drops it).
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ..._exceptions import InvalidParameterError
from ._base import check_url

__all__ = ["ProxyURL", "bypasses_proxy", "parse_proxy", "resolve_proxy"]


@dataclass(frozen=True, slots=True)
class ProxyURL:
    """A parsed ``http://`` proxy: where to connect, and the credentials header if any.

    ``authorization`` is excluded from the repr; ``display`` is the URL without credentials.
    """

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """``http://host:port``, credentials left out: the only form fit for logs and errors."""
        return f"http://{authority(self.host, self.port)}"


def authority(host: str, port: int) -> str:
    """``host:port`` with an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_proxy(url: str) -> ProxyURL:
    """Parse a proxy URL (``http://[user:pass@]host[:port]``, scheme optional).

    Raises:
        InvalidParameterError: another scheme, no host, a bad port, or a control character.
    """
    check_url(url, "proxy URL")
    text = url if "://" in url else "http://" + url
    parts = urlsplit(text)
    if parts.scheme.lower() != "http":
        # The scheme alone: the URL may carry credentials.
        raise InvalidParameterError(
            f"unsupported proxy scheme {parts.scheme!r}: only http:// proxies are supported"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise InvalidParameterError("the proxy URL has an invalid port") from None
    if not parts.hostname:
        raise InvalidParameterError("the proxy URL has no host")
    auth = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return ProxyURL(host=parts.hostname, port=port, authorization=auth)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name.lower()) or None
    if value is None and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
        value = environ.get(name) or None
    return value.strip() if value else None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """True when ``host:port`` matches an entry of a ``NO_PROXY`` list (rules above)."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "://" in entry:
            entry = entry.split("://", 1)[1]
        entry = entry.rstrip("/")
        entry_port: int | None = None
        if entry.startswith("["):
            inside, _, rest = entry[1:].partition("]")
            entry = inside
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
        elif entry.count(":") == 1:
            name, _, digits = entry.partition(":")
            if digits.isdigit():
                entry, entry_port = name, int(digits)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        domain = entry.removeprefix("*").lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def resolve_proxy(
    url: str,
    *,
    trust_env: bool = True,
    proxy: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The proxy URL that a request to ``url`` goes through, or ``None`` for a direct connection.

    Args:
        url: the target (a node's base URL).
        trust_env: read ``HTTP(S)_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` when no proxy is given.
        proxy: an explicit proxy, used for every URL.
        environ: the environment to read (``os.environ`` by default; tests pass their own).

    Raises:
        InvalidParameterError: the chosen proxy is not a usable ``http://`` proxy.

    Example:
        >>> resolve_proxy("https://api.example/", environ={"HTTPS_PROXY": "proxy:3128"})
        'proxy:3128'
        >>> resolve_proxy("https://api.example/", environ={"HTTPS_PROXY": "proxy:3128",
        ...                                                 "NO_PROXY": "example"})
    """
    if proxy is not None:
        parse_proxy(proxy)
        return proxy
    if not trust_env:
        return None
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    chosen = _env(env, f"{scheme.upper()}_PROXY") if scheme in ("http", "https") else None
    chosen = chosen or _env(env, "ALL_PROXY")
    if chosen is None:
        return None
    no_proxy = _env(env, "NO_PROXY")
    if no_proxy:
        port = parts.port or (443 if scheme == "https" else 80)
        if bypasses_proxy(parts.hostname or "", port, no_proxy):
            return None
    parse_proxy(chosen)
    return chosen
