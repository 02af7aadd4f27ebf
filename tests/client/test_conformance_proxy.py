"""Wire conformance, proxies and TLS: a real ``tinyproxy`` (Debian's) started by the test on a
free port with a generated config, and loopback TLS servers with certificates made by
``trustme``.

Every case runs against the default wire (FastWire) and the httpx wire with the same expected
outcome. The table of cases is in docs/client.md.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme

from m5c_async.client import NeverSent, ProxyRefused
from m5c_async.simulator import free_port
from tests.client.scripted import SPEC, MakeWire, scripted, serve_each

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nsuccess:42"
USER, PASSWORD = "alice", "pr0xy-s3cret"


@dataclass
class Tinyproxy:
    """A running tinyproxy: its URLs (with and without credentials) and its log."""

    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    @property
    def plain_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request lines tinyproxy logged."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line.split("): ", 1)[1] for line in text.splitlines() if "Request (file" in line]


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    """tinyproxy on a free loopback port, Basic auth required; stopped after the test."""
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    assert Path(binary).exists(), "tinyproxy is missing: .ci/run installs Debian's package"
    port = free_port()
    log = tmp_path / "tinyproxy.log"
    config = tmp_path / "tinyproxy.conf"
    config.write_text(
        f"Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Connect\n"
        f'LogFile "{log}"\nPidFile "{tmp_path / "tinyproxy.pid"}"\n'
        f"BasicAuth {USER} {PASSWORD}\n"
    )
    process = subprocess.Popen(
        [binary, "-d", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, f"tinyproxy exited with {process.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "tinyproxy did not start listening"
                time.sleep(0.02)
        yield Tinyproxy(port=port, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - tinyproxy ignoring SIGTERM
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_plain_http_through_the_proxy(make_wire: MakeWire, tinyproxy: Tinyproxy) -> None:
    """``http://`` through the proxy: absolute-form target, credentials sent to the proxy only,
    the node's reply returned."""
    async with scripted(serve_each(OK)) as server:
        wire = make_wire(proxy=tinyproxy.url)
        reply = await wire.exchange(server.url, SPEC)
        assert (reply.status, reply.body) == (200, b"success:42")
    target = f"POST {server.url}/api/query/index.php HTTP/1.1"
    assert target in tinyproxy.requests()
    seen = server.requests[0]
    assert b"\r\nVia: 1.1 " in seen and b"(tinyproxy/" in seen
    assert b"Proxy-Authorization" not in seen
    assert seen.endswith(b"\r\n\r\na=1")


async def test_https_through_connect(
    make_wire: MakeWire, tinyproxy: Tinyproxy, ca: trustme.CA
) -> None:
    """``https://`` through the proxy: ``CONNECT`` then TLS with the node inside the tunnel
    (verified against the test's CA), twice on the same tunnel."""
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with scripted(serve_each(OK, second), ssl_context=server_context(ca)) as server:
        wire = make_wire(proxy=tinyproxy.url, ssl_context=client_context(ca))
        assert (await wire.exchange(server.url, SPEC)).body == b"success:42"
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert tinyproxy.requests() == [f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"]
    assert len(server.peers) == 1
    assert server.requests[0].startswith(b"POST /api/query/index.php HTTP/1.1\r\n")


async def test_wrong_proxy_password(
    make_wire: MakeWire, tinyproxy: Tinyproxy, ca: trustme.CA
) -> None:
    """Refused by the proxy: for ``http://`` its 401/407 is the reply; a refused ``CONNECT`` is
    ``ProxyRefused`` (a ``NeverSent``: the request never reached the node). The password is in
    neither the error nor the repr."""
    wrong = f"http://{USER}:not-the-password@127.0.0.1:{tinyproxy.port}"
    # A GET: tinyproxy answers 407 as soon as it has the head and closes, and a body still
    # unread at its end would turn that close into a reset (the 407 lost, for both wires).
    get = replace(SPEC, method="GET", body=None, content_type=None, query=(("a", "1"),))
    async with scripted(serve_each(OK)) as plain:
        refused = await make_wire(proxy=wrong).exchange(plain.url, get)
        # tinyproxy answers 407 to missing credentials and 401 to wrong ones.
        assert refused.status in (401, 407)
        assert b"tinyproxy" in refused.body
    async with scripted(serve_each(OK), ssl_context=server_context(ca)) as tls:
        wire = make_wire(proxy=wrong, ssl_context=client_context(ca))
        with pytest.raises(ProxyRefused) as caught:
            await wire.exchange(tls.url, SPEC)
        assert "not-the-password" not in str(caught.value)
        assert "not-the-password" not in repr(wire)
    assert plain.peers == [] and tls.peers == []


async def test_unreachable_proxy_is_never_sent(make_wire: MakeWire) -> None:
    """Nothing listens at the proxy's address: ``NeverSent``."""
    async with scripted(serve_each(OK)) as server:
        wire = make_wire(proxy=f"http://127.0.0.1:{free_port()}")
        with pytest.raises(NeverSent):
            await wire.exchange(server.url, SPEC)
    assert server.peers == []


async def test_environment_proxy_and_no_proxy(
    make_wire: MakeWire, tinyproxy: Tinyproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trust_env=True``: ``HTTP_PROXY`` is used; with ``NO_PROXY`` naming the host, not."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    async with scripted(serve_each(OK)) as server:
        assert (await make_wire(trust_env=True).exchange(server.url, SPEC)).status == 200
        assert len(tinyproxy.requests()) == 1
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
        assert (await make_wire(trust_env=True).exchange(server.url, SPEC)).status == 200
        assert len(tinyproxy.requests()) == 1
        # Off by default at the wire level: the environment is not read.
        monkeypatch.delenv("NO_PROXY")
        assert (await make_wire().exchange(server.url, SPEC)).status == 200
        assert len(tinyproxy.requests()) == 1
    assert len(server.peers) == 3


async def test_tls_is_verified_by_default(make_wire: MakeWire, ca: trustme.CA) -> None:
    """A certificate the system does not trust: ``NeverSent``; trusted through ``ssl_context``
    or with ``verify=False``: the reply."""
    async with scripted(serve_each(OK), ssl_context=server_context(ca)) as server:
        with pytest.raises(NeverSent, match=r"(?i)certificate"):
            await make_wire().exchange(server.url, SPEC)
        assert (await make_wire(ssl_context=client_context(ca)).exchange(server.url, SPEC)).body
        assert (await make_wire(verify=False).exchange(server.url, SPEC)).body == b"success:42"
