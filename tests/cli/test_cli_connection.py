"""The m5c command's connection options and error texts: ``--method GET`` never prints the
credentials (even when a node's error page quotes the request URL), ``--proxy`` and the
environment's proxies through a real tinyproxy, ``--no-env-proxy``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import m5c
from tests.peers import Proxy, tinyproxy
from tests.threaded import Received, threaded_node


def _answer(request: Received) -> tuple[int, bytes]:
    """A node (a bare socket server, not ours) answering by path: ``/bad/...`` with a 403 page
    quoting the request, ``/gw/...`` with a 502 page quoting it, ``/garbled/...`` with a 200
    that quotes it, anything else like the platform."""
    quoted = (request.head + request.body).decode("latin-1")
    path = request.path
    status, text = 200, "90/100"
    if "/api/send/" in path:
        text = "success:55555"
    if path.startswith("/bad/"):
        status, text = 403, f"<html>forbidden: {quoted}</html>"
    elif path.startswith("/gw/"):
        status, text = 502, f"<html>bad gateway: {quoted}</html>"
    elif path.startswith("/garbled/"):
        text = f"<html>{quoted}</html>"
    return status, text.encode()


@pytest.fixture
def node() -> Iterator[str]:
    with threaded_node(_answer, keep_alive=True) as base:
        yield base


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    with tinyproxy(tmp_path) as running:
        yield running


NO_PROXY_ENV = {name: "" for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")}
NO_PROXY_ENV |= {name.lower(): "" for name in NO_PROXY_ENV}


def credentials_shown(text: str) -> list[str]:
    """Values printed after a credential's parameter name that are not masked."""
    found = re.findall(r"(?:password|password_md5|apikey)=([^&\s'\"]*)", text)
    return [value for value in found if value and not value.startswith("***")]


@pytest.mark.parametrize("prefix", ["/bad", "/gw", "/garbled"])
@pytest.mark.parametrize(
    "command", [["balance"], ["send", "--mobile", "13800138000", "--content", "x"]]
)
def test_get_errors_never_print_the_credentials(node: str, prefix: str, command: list[str]) -> None:
    done = m5c(*command, "--method", "GET", base=node + prefix, env=NO_PROXY_ENV)
    assert done.returncode != 0
    assert done.stderr.strip()
    assert credentials_shown(done.stdout + done.stderr) == [], done.stderr
    if prefix != "/garbled":
        assert "HTTP 403" in done.stderr or "HTTP 502" in done.stderr


def test_proxy_option_and_environment(node: str, proxy: Proxy) -> None:
    """--proxy sends through tinyproxy; so does HTTP_PROXY, unless --no-env-proxy."""
    done = m5c("balance", "--proxy", proxy.url, base=node, env=NO_PROXY_ENV)
    assert (done.returncode, done.stdout.strip()) == (0, "90/100"), done.stderr
    assert len(proxy.requests()) == 1
    env = NO_PROXY_ENV | {"HTTP_PROXY": proxy.url}
    done = m5c("send", "--mobile", "13800138000", "--content", "x", base=node, env=env)
    assert done.returncode == 0, done.stderr
    assert len(proxy.requests()) == 2
    done = m5c("balance", "--no-env-proxy", base=node, env=env)
    assert done.returncode == 0, done.stderr
    assert len(proxy.requests()) == 2
    assert all(line.split(" ")[1].startswith(node + "/api/") for line in proxy.requests())
