"""Ports: the simulator holds its block from the bind to the serve, and moves to another block
when another process took a port after ``free_port``'s probe (suites side by side)."""

from __future__ import annotations

import socket

import anyio
import httpx
import pytest

from m5c_async import md5_hex
from m5c_async.simulator import DEMO_ACCOUNT, Platform, SimulatorServer


def _balance(url: str) -> str:
    form = {
        "username": DEMO_ACCOUNT.username,
        "password_md5": md5_hex(DEMO_ACCOUNT.password),
        "apikey": DEMO_ACCOUNT.apikey,
    }
    return httpx.post(f"{url}/api/query/index.php", data=form, timeout=10).text


async def test_a_block_taken_after_the_probe_is_given_up_for_another() -> None:
    """Another process listens on the second port of the probed block: the simulator serves
    on a fresh block, every node answers, and the other process's port is left alone."""
    server = SimulatorServer(Platform([DEMO_ACCOUNT]), nodes=2)
    probed = server.port
    with socket.socket() as intruder:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        intruder.bind(("127.0.0.1", probed + 1))
        intruder.listen()
        with anyio.fail_after(30):
            async with server.running():
                assert server.port != probed
                for url in server.base_urls:
                    reply = await anyio.to_thread.run_sync(_balance, url)
                    assert reply == "10000000/10000000"
        assert intruder.getsockname()[1] == probed + 1


async def test_an_explicit_port_that_is_taken_is_an_error() -> None:
    """A port the caller chose is not silently changed."""
    with socket.socket() as intruder:
        intruder.bind(("127.0.0.1", 0))
        intruder.listen()
        taken = intruder.getsockname()[1]
        server = SimulatorServer(Platform([DEMO_ACCOUNT]), port=taken, nodes=1)
        with anyio.fail_after(30), pytest.raises(OSError, match="in use"):
            async with server.running():
                pass


async def test_a_node_down_from_the_start_refuses_and_comes_back() -> None:
    """A node marked down before the start has its port closed; lifting the fault serves it."""
    server = SimulatorServer(Platform([DEMO_ACCOUNT]), nodes=2)
    server.faults["beijing"].down = True
    with anyio.fail_after(30):
        async with server.running():
            beijing = server.url_of("beijing")
            with pytest.raises(httpx.ConnectError):
                await anyio.to_thread.run_sync(_balance, beijing)
            await server.set_faults("beijing", down=False)
            assert await anyio.to_thread.run_sync(_balance, beijing) == "10000000/10000000"
