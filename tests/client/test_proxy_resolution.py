"""``resolve_proxy``: the environment's proxy variables, read as httpx and requests read them."""

from __future__ import annotations

import pytest

from m5c_async import InvalidParameterError
from m5c_async.client import resolve_proxy
from m5c_async.client._transports._proxy import parse_proxy

HTTP = "http://api.example.com:8080"
HTTPS = "https://api.example.com"


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        (HTTP, {}, None),
        (HTTP, {"HTTP_PROXY": "http://p:3128"}, "http://p:3128"),
        (HTTP, {"http_proxy": "http://low:1", "HTTP_PROXY": "http://up:2"}, "http://low:1"),
        (HTTP, {"HTTPS_PROXY": "http://p:3128"}, None),
        (HTTPS, {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
        (HTTPS, {"https_proxy": "p:3128"}, "p:3128"),
        (HTTPS, {"HTTP_PROXY": "http://p:3128"}, None),
        (HTTPS, {"ALL_PROXY": "http://all:1"}, "http://all:1"),
        (HTTPS, {"all_proxy": "http://all:1", "HTTPS_PROXY": "http://s:2"}, "http://s:2"),
        (HTTP, {"http_proxy": "", "HTTP_PROXY": "http://up:2"}, "http://up:2"),
        # httpoxy: in a CGI process a client can set HTTP_PROXY through a "Proxy:" header.
        (HTTP, {"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}, None),
        (HTTP, {"http_proxy": "http://p:1", "REQUEST_METHOD": "GET"}, "http://p:1"),
    ],
)
def test_environment_variables(url: str, environ: dict[str, str], expected: str | None) -> None:
    """Scheme-specific variable, then ALL_PROXY; lowercase first; empty is unset."""
    assert resolve_proxy(url, environ=environ) == expected


@pytest.mark.parametrize(
    ("url", "no_proxy", "bypassed"),
    [
        (HTTP, "*", True),
        (HTTP, "example.com", True),
        (HTTP, ".example.com", True),
        (HTTP, "*.example.com", True),
        (HTTP, "api.example.com", True),
        (HTTP, "other.com, example.com", True),
        (HTTP, "ample.com", False),
        (HTTP, "api.example.com:8080", True),
        (HTTP, "api.example.com:9090", False),
        (HTTP, "http://api.example.com", True),
        ("http://10.1.2.3:80", "10.0.0.0/8", True),
        ("http://10.1.2.3:80", "10.1.2.3", True),
        ("http://10.1.2.4:80", "10.1.2.3", False),
        ("http://[::1]:8080", "::1", True),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("http://[::1]:8080", "[::1]:9", False),
        ("http://[fd00::5]:80", "fd00::/8", True),
        ("http://localhost:80", "localhost,127.0.0.1", True),
        ("http://127.0.0.1:80", "localhost", False),
        (HTTP, "", False),
    ],
)
def test_no_proxy(url: str, no_proxy: str, bypassed: bool) -> None:
    """NO_PROXY: *, domains and subdomains, ports, IPs, CIDR networks, IPv6."""
    environ = {"ALL_PROXY": "http://p:3128", "NO_PROXY": no_proxy}
    assert (resolve_proxy(url, environ=environ) is None) is bypassed


def test_lowercase_no_proxy_wins() -> None:
    """``no_proxy`` is read before ``NO_PROXY``."""
    environ = {"ALL_PROXY": "http://p:1", "no_proxy": "other.org", "NO_PROXY": "example.com"}
    assert resolve_proxy(HTTP, environ=environ) == "http://p:1"


def test_explicit_proxy_wins_and_ignores_no_proxy() -> None:
    """``proxy=`` applies to every URL; the environment is not read for it."""
    environ = {"HTTP_PROXY": "http://env:1", "NO_PROXY": "*"}
    assert resolve_proxy(HTTP, proxy="http://mine:2", environ=environ) == "http://mine:2"


def test_trust_env_off_reads_nothing() -> None:
    """``trust_env=False``: no proxy unless one is given."""
    assert resolve_proxy(HTTP, trust_env=False, environ={"HTTP_PROXY": "http://p:1"}) is None


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``environ``, ``os.environ`` is read."""
    monkeypatch.setenv("HTTP_PROXY", "http://from-env:3128")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert resolve_proxy(HTTP) == "http://from-env:3128"


@pytest.mark.parametrize(
    "proxy",
    ["socks5://user:hunter2@p:1080", "https://user:hunter2@p:443", "http://p:notaport", "http://"],
)
def test_unusable_proxies_are_refused_without_their_credentials(proxy: str) -> None:
    """Unsupported scheme, bad port, no host: InvalidParameterError, password not shown."""
    with pytest.raises(InvalidParameterError) as caught:
        resolve_proxy(HTTP, proxy=proxy)
    assert "hunter2" not in str(caught.value)


def test_control_characters_in_a_proxy_url_are_refused() -> None:
    """A proxy URL cannot smuggle header lines."""
    with pytest.raises(InvalidParameterError):
        parse_proxy("http://p:3128\r\nX-Evil: 1")


def test_credentials_become_a_basic_header_hidden_from_repr() -> None:
    """``user:pass@`` (percent-decoded) is the Proxy-Authorization value, never in the repr."""
    parsed = parse_proxy("http://us%40er:p%3Ass@proxy.internal:3128")
    assert (parsed.host, parsed.port) == ("proxy.internal", 3128)
    assert parsed.authorization == "Basic dXNAZXI6cDpzcw=="  # base64 of "us@er:p:ss"
    assert "cDpzcw" not in repr(parsed)
    assert "p:ss" not in repr(parsed)
    assert parsed.display == "http://proxy.internal:3128"
    assert parse_proxy("[::1]:8888").display == "http://[::1]:8888"
