"""Serving the simulator: one uvicorn server per node on consecutive ports, one shared platform.

``down`` is real: the node's server is shut down, so its port refuses connections, and started
again when the fault is lifted. A pusher task ticks the platform and pushes reports and replies.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
import uvicorn

from .._exceptions import InvalidParameterError
from ..protocol import NODES
from ._accounts import AccountConfig
from ._app import NodeApp
from ._arrival import arrival_protocol
from ._faults import NodeFaults, ScenarioEvent
from ._platform import Platform, PlatformSettings
from ._pusher import Pusher

__all__ = ["EmbeddedServer", "SimulatorServer", "free_port", "run_simulator"]

log = logging.getLogger("m5c_async.simulator")


def free_port(host: str = "127.0.0.1", count: int = 1) -> int:
    """Return a port ``P`` such that ``P`` .. ``P+count-1`` were free a moment ago."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind((host, 0))
            base = int(probe.getsockname()[1])
        if base + count >= 65535:
            continue
        if all(_free(host, base + i) for i in range(1, count)):
            return base
    raise RuntimeError("no block of free ports found")


def _bind_block(host: str, count: int, first: int, *, search: bool) -> list[socket.socket]:
    """Bound (not yet listening) sockets on ``first`` .. ``first+count-1``.

    With ``search``, a block that is taken (another process got a port between ``free_port``'s
    probe and this bind, as suites running side by side do) is given up for another one: the
    sockets are held from here until uvicorn serves them, so nothing can take them meanwhile.

    Raises:
        OSError: the ports are taken (and ``search`` is off, or 200 blocks were tried).
    """
    for attempt in range(200 if search else 1):
        base = first if attempt == 0 else free_port(host, count)
        sockets: list[socket.socket] = []
        try:
            for i in range(count):
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, base + i))
            return sockets
        except OSError:
            for sock in sockets:
                sock.close()
            if not search or attempt == 199:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server to run inside an event loop that is not its own: no signal capture.

    The embedding process owns SIGINT/SIGTERM (Ctrl-C reaches the embedding task, which sets
    ``should_exit``). ``SimulatorServer`` serves each node with one; the demo, the webhook and
    dashboard tests serve their ASGI apps with it too. Start it with ``serve()`` in a task, wait
    for ``started``, stop it with ``should_exit = True``.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave the process's signal handlers alone."""
        yield


class SimulatorServer:
    """Run 1..4 nodes of the simulated platform on ``port``, ``port+1``...

    Example:
        >>> # async with run_simulator(accounts, nodes=4) as sim:
        >>> #     sim.base_urls  -> ["http://127.0.0.1:P", "http://127.0.0.1:P+1", ...]
    """

    def __init__(
        self,
        platform: Platform,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        nodes: int = 4,
        scenario: Sequence[ScenarioEvent] = (),
    ) -> None:
        if not 1 <= nodes <= len(NODES):
            raise InvalidParameterError("nodes must be 1 to 4")
        self.platform = platform
        self.host = host
        #: The first node's port; chosen here when 0, and changed by ``running()`` if another
        #: process takes the block first.
        self.port = port or free_port(host, nodes)
        self._search = port == 0
        self._reserved: dict[str, socket.socket] = {}
        self.node_names = [n.name for n in NODES[:nodes]]
        self.faults: dict[str, NodeFaults] = {name: NodeFaults() for name in self.node_names}
        self.scenario = list(scenario)
        self._servers: dict[str, tuple[EmbeddedServer, anyio.Event]] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self.pusher: Pusher | None = None

    @property
    def base_urls(self) -> list[str]:
        """``http://host:port`` of each node, in catalog order."""
        return [f"http://{self.host}:{self.port + i}" for i in range(len(self.node_names))]

    def url_of(self, node: str) -> str:
        """The base URL of one node."""
        return self.base_urls[self.node_names.index(node)]

    def app(self, node: str) -> NodeApp:
        """The ASGI app of one node (the same object the server runs)."""
        return NodeApp(self.platform, node, faults=self.faults, on_fault_change=self._on_fault)

    async def _on_fault(self, node: str, fault: NodeFaults) -> None:
        running = node in self._servers
        if fault.down and running:
            await self._stop_node(node)
        elif not fault.down and not running and self._tg is not None:
            await self._start_node(node)

    async def set_faults(self, node: str, **changes: Any) -> None:
        """Change a node's faults at run time (``down=True`` closes its port)."""
        self.faults[node].update(changes)
        await self._on_fault(node, self.faults[node])

    async def _start_node(self, node: str) -> None:
        assert self._tg is not None
        index = self.node_names.index(node)
        config = uvicorn.Config(
            self.app(node),
            host=self.host,
            port=self.port + index,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            backlog=4096,
            interface="asgi3",
            http=arrival_protocol(self.platform.clock),
        )
        server = EmbeddedServer(config)
        done = anyio.Event()
        # The socket bound at start (held since), or a fresh bind when the node comes back up.
        reserved = self._reserved.pop(node, None)

        async def serve() -> None:
            try:
                await server.serve(sockets=[reserved] if reserved is not None else None)
            finally:
                done.set()

        self._tg.start_soon(serve)
        with anyio.fail_after(10):
            while not server.started:
                if done.is_set():
                    raise RuntimeError(f"node {node} failed to start on port {config.port}")
                await anyio.sleep(0.01)
        self._servers[node] = (server, done)

    async def _stop_node(self, node: str) -> None:
        server, done = self._servers.pop(node)
        server.should_exit = True
        await done.wait()

    async def _run_scenario(self) -> None:
        start = anyio.current_time()
        for event in self.scenario:
            await anyio.sleep_until(start + event.at)
            log.info("scenario t=%.1fs: %s %s", event.at, event.node, event.changes)
            await self.set_faults(event.node, **event.changes)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SimulatorServer]:
        """Start every node (except those marked down), the pusher and the scenario."""
        # Bound before any task starts, so a taken port is a plain OSError.
        held = _bind_block(self.host, len(self.node_names), self.port, search=self._search)
        self.port = held[0].getsockname()[1]
        self._reserved = dict(zip(self.node_names, held, strict=True))
        async with httpx.AsyncClient() as http, anyio.create_task_group() as tg:
            self._tg = tg
            self.pusher = Pusher(self.platform, http)
            tg.start_soon(self.pusher.run)
            if self.platform.loop_lag is not None:
                tg.start_soon(self.platform.loop_lag.run)
            try:
                for node in self.node_names:
                    if self.faults[node].down:
                        self._reserved.pop(node).close()  # a down node's port refuses
                    else:
                        await self._start_node(node)
                if self.scenario:
                    tg.start_soon(self._run_scenario)
                yield self
            finally:
                for sock in self._reserved.values():  # a start that failed midway
                    sock.close()
                self._reserved = {}
                for node in list(self._servers):
                    await self._stop_node(node)
                self._tg = None
                tg.cancel_scope.cancel()


@asynccontextmanager
async def run_simulator(
    accounts: Sequence[AccountConfig],
    *,
    nodes: int = 4,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: PlatformSettings | None = None,
    scenario: Sequence[ScenarioEvent] = (),
) -> AsyncIterator[SimulatorServer]:
    """Start a simulator on free loopback ports for the duration of the block.

    Example:
        >>> from m5c_async.simulator import DEMO_ACCOUNT
        >>> async def nodes() -> list[str]:
        ...     async with run_simulator([DEMO_ACCOUNT], nodes=2) as sim:
        ...         return [url.rsplit(":", 1)[0] for url in sim.base_urls]
        >>> anyio.run(nodes)
        ['http://127.0.0.1', 'http://127.0.0.1']
    """
    platform = Platform(accounts, settings=settings)
    server = SimulatorServer(platform, host=host, port=port, nodes=nodes, scenario=scenario)
    async with server.running():
        yield server
