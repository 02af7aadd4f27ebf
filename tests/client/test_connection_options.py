"""AsyncClient's connection options on both wires: base URL paths, TLS (``verify``,
``ssl_context``) against a self-signed loopback server, and proxies through a real tinyproxy
(plain http forwarded, https through CONNECT, the environment's proxy honoured or ignored)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from m5c_async import AllNodesFailedError, AsyncClient, InvalidParameterError, NodeUnavailableError
from tests.conftest import APIKEY, PASSWORD
from tests.peers import Proxy, SelfSigned, self_signed, tinyproxy
from tests.scripted import Answer, Request, scripted

WIRES = ["fast", "httpx"]


def ok(request: Request) -> Answer:
    if "/api/send/" in request.path:
        return Answer(body="success:987654321")
    return Answer(body="90/100")


def client(nodes: list[str], wire: str, **options: object) -> AsyncClient:
    return AsyncClient(
        username="mlrt",
        password=PASSWORD,
        apikey=APIKEY,
        nodes=nodes,
        wire=wire,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    with tinyproxy(tmp_path) as running:
        yield running


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.parametrize("wire", WIRES)
async def test_the_base_urls_path_is_kept(wire: str, no_env_proxy: None) -> None:
    async with scripted(ok) as server, client([server.url + "/gw/sms/"], wire) as sms:
        await sms.send(["13800138000"], "x")
        await sms.balance()
    assert [r.path for r in server.requests] == [
        "/gw/sms/api/send/index.php",
        "/gw/sms/api/query/index.php",
    ]


@pytest.mark.parametrize("wire", WIRES)
async def test_tls_verify_options(wire: str, cert: SelfSigned, no_env_proxy: None) -> None:
    """A self-signed node: refused by default (never sent), reached with verify=False, with
    verify=<its certificate as CA file>, and with an ssl_context trusting it."""
    trusting = ssl.create_default_context(cafile=str(cert.cert))
    async with scripted(ok, tls=cert.server_context()) as server:
        async with client([server.url], wire) as sms:
            with pytest.raises(AllNodesFailedError) as info:
                await sms.balance()
            assert isinstance(info.value.failures[server.url], NodeUnavailableError)
        assert server.requests == []
        for options in ({"verify": False}, {"verify": cert.cert}, {"ssl_context": trusting}):
            async with client([server.url], wire, **options) as sms:
                assert (await sms.send(["13800138000"], "x")).msgid == "987654321"
    assert len(server.requests) == 3


def test_ssl_context_and_verify_together_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        client(["http://n"], "fast", ssl_context=ssl.create_default_context(), verify=False)
    with pytest.raises(InvalidParameterError, match="CA file"):
        client(["http://n"], "fast", verify="/nonexistent/ca.pem")


@pytest.mark.parametrize("wire", WIRES)
async def test_plain_http_through_the_proxy(wire: str, proxy: Proxy, no_env_proxy: None) -> None:
    async with scripted(ok) as server, client([server.url + "/sms"], wire, proxy=proxy.url) as sms:
        await sms.send(["13800138000"], "x")
        await sms.balance()
    assert [r.path for r in server.requests] == [
        "/sms/api/send/index.php",
        "/sms/api/query/index.php",
    ]
    seen = proxy.requests()
    assert [line.split(" ")[:2] for line in seen] == [
        ["POST", server.url + "/sms/api/send/index.php"],
        ["POST", server.url + "/sms/api/query/index.php"],
    ]


@pytest.mark.parametrize("wire", WIRES)
async def test_https_through_the_proxy_uses_connect(
    wire: str, proxy: Proxy, cert: SelfSigned, no_env_proxy: None
) -> None:
    async with (
        scripted(ok, tls=cert.server_context()) as server,
        client([server.url + "/sms"], wire, proxy=proxy.url, verify=cert.cert) as sms,
    ):
        assert (await sms.send(["13800138000"], "x")).msgid == "987654321"
        await sms.balance()
    assert [r.path for r in server.requests] == [
        "/sms/api/send/index.php",
        "/sms/api/query/index.php",
    ]
    hostport = server.url.removeprefix("https://")
    connects = [line for line in proxy.requests() if line.startswith("CONNECT ")]
    assert connects and all(line.split(" ")[1] == hostport for line in connects)
    # The proxy saw no request line of ours in the clear.
    assert not [line for line in proxy.requests() if "/api/" in line]


@pytest.mark.parametrize("wire", WIRES)
async def test_the_environments_proxy_is_honoured_unless_trust_env_is_off(
    wire: str, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, no_env_proxy: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with scripted(ok) as server:
        async with client([server.url], wire) as sms:
            await sms.balance()
        assert len(proxy.requests()) == 1
        async with client([server.url], wire, trust_env=False) as sms:
            await sms.balance()
        assert len(proxy.requests()) == 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with client([server.url], wire) as sms:
            await sms.balance()
        assert len(proxy.requests()) == 1
    assert len(server.requests) == 3


@pytest.mark.parametrize("wire", WIRES)
async def test_a_dead_proxy_means_never_sent(wire: str, no_env_proxy: None) -> None:
    from m5c_async.simulator import free_port

    async with (
        scripted(ok) as server,
        client([server.url], wire, proxy=f"http://127.0.0.1:{free_port()}") as sms,
    ):
        with pytest.raises(AllNodesFailedError) as info:
            await sms.send(["13800138000"], "x")
    assert isinstance(info.value.failures[server.url], NodeUnavailableError)
    assert server.requests == []
