"""The simulator in a process of its own, driven through its ``/_sim/`` admin routes.

The platform counts one-second windows by when a request arrives, stamped by its event loop
(``_arrival``). Embedded in the sender's process (``run_simulator``), that loop is the
sender's: a journal commit, a webhook push or a dashboard query that holds it for 40 ms
(measured in ``m5c demo``) stamps the requests that arrived meanwhile together, and a sliding
window then sees a burst nobody sent and refuses it. The real platform runs elsewhere; a
simulator spawned here has its own interpreter and loop, so its stamps are its own.

``spawn_simulator`` starts ``python -m m5c_async.simulator --port 0 --json``, waits (with a
deadline) for its readiness line, and stops it on exit, however the block ends: SIGTERM, then
SIGKILL when it has not gone within ``stop_timeout``. The child's stdin is a pipe from this
process: should this process be killed outright, the child sees its end and stops too. Should
the child exit first, the block is cancelled and ``SimulatorExitedError`` names it.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
from anyio.abc import Process

__all__ = ["SimulatorExitedError", "SimulatorStartError", "SpawnedSimulator", "spawn_simulator"]

#: How long an admin call may take (seconds): the child answers them on its own loop.
ADMIN_TIMEOUT = 10.0


#: How long a failure in the block waits for the child's exit to be seen (seconds): a killed
#: child refuses connections at once, before its parent has reaped it.
EXIT_NOTICE = 0.5


class SimulatorStartError(RuntimeError):
    """The spawned simulator exited, or printed no readiness line in time."""


class SimulatorExitedError(RuntimeError):
    """The spawned simulator exited while the block was using it (killed, crashed)."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"the simulator exited while in use (code {returncode})")
        self.returncode = returncode


class SpawnedSimulator:
    """A running child simulator: its nodes' URLs and its admin routes."""

    def __init__(self, nodes: dict[str, str], http: httpx.AsyncClient, pid: int) -> None:
        self.node_names = list(nodes)
        self.base_urls = list(nodes.values())
        self.pid = pid
        self._http = http

    def url(self, node: str) -> str:
        """The base URL of ``node``."""
        return self.base_urls[self.node_names.index(node)]

    async def stats(self) -> dict[str, Any]:
        """``GET /_sim/stats`` (the platform's counters, the same on every node)."""
        return await self._admin("GET", "/_sim/stats")  # type: ignore[no-any-return]

    async def set_faults(self, node: str, **changes: Any) -> None:
        """Change ``node``'s faults (``down=True`` closes its port), asked of another node so
        that the answer does not depend on the port being closed."""
        others = [name for name in self.node_names if name != node] or [node]
        await self._admin("POST", "/_sim/faults", {"node": node, **changes}, via=others[0])

    async def inject_reply(self, username: str, mobile: str, content: str, ext: str = "") -> str:
        """A handset's reply, pushed or pulled like any other; returns its replyid."""
        doc = {"username": username, "mobile": mobile, "content": content, "ext": ext}
        answer = await self._admin("POST", "/_sim/reply", doc)
        return str(answer["replyid"])

    async def set_account(self, username: str, **fields: Any) -> None:
        """Change an account at run time: ``report_push_url``, ``reply_push_url``, ``rate``,
        ``balance``… (``POST /_sim/account``; secrets such as a webhook token travel in the
        body, never in the child's command line)."""
        await self._admin("POST", "/_sim/account", {"username": username, **fields})

    async def _admin(
        self, method: str, path: str, doc: dict[str, Any] | None = None, *, via: str | None = None
    ) -> Any:
        base = self.url(via) if via is not None else self.base_urls[0]
        response = await self._http.request(method, base + path, json=doc)
        response.raise_for_status()
        return response.json()


@asynccontextmanager
async def spawn_simulator(
    args: Sequence[str] = (),
    *,
    nodes: int = 4,
    log: Path | None = None,
    ready_timeout: float = 30.0,
    stop_timeout: float = 1.5,
) -> AsyncIterator[SpawnedSimulator]:
    """Run ``python -m m5c_async.simulator`` in a child process for the duration of the block.

    ``args`` are the simulator's own options (``--report-push-url``, ``--limiter``…); with no
    ``--account`` it serves the demo account. Its stderr (uvicorn's warnings) goes to ``log``
    when given, else to ours. ``stop_timeout``: seconds between SIGTERM and SIGKILL.

    Raises:
        SimulatorStartError: the child exited before it was ready, or was not ready within
            ``ready_timeout`` seconds.
        SimulatorExitedError: the child exited before the block ended (the block is cancelled
            when it does, or its own error, such as a refused connection, is replaced).
    """
    command = [
        sys.executable, "-m", "m5c_async.simulator", "--port", "0",
        "--nodes", str(nodes), "--json", "--until-stdin-closes", *args,
    ]  # fmt: skip
    # Opened once, before the child starts; closed when it is gone.
    sink = log.open("ab") if log is not None else nullcontext()
    with sink as stderr:
        # stdin: a pipe only this process holds; when it dies, however it dies, the child
        # reads its end and stops (--until-stdin-closes): no orphan keeps the ports.
        process = await anyio.open_process(command, stdin=-1, stdout=-1, stderr=stderr)
        try:
            urls = await _ready(process, ready_timeout)
            exited = completed = False
            failed: Exception | None = None
            async with (
                httpx.AsyncClient(timeout=ADMIN_TIMEOUT, trust_env=False) as http,
                anyio.create_task_group() as tg,
            ):

                async def watch() -> None:
                    # Reads the child's stdout to its end (a full pipe would stop the child),
                    # then cancels the block: the child is gone, and with it what it served.
                    nonlocal exited
                    assert process.stdout is not None
                    async for _ in process.stdout:
                        pass
                    await process.wait()
                    exited = True
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                try:
                    yield SpawnedSimulator(urls, http, process.pid)
                    completed = True
                except Exception as exc:
                    failed = exc  # raised below, out of the task group (no group around it)
                finally:
                    tg.cancel_scope.cancel()
            if failed is not None:
                # A killed child refuses the block's requests before the watch sees it go.
                with anyio.move_on_after(EXIT_NOTICE, shield=True):
                    await process.wait()
                if process.returncode is not None:
                    await anyio.lowlevel.checkpoint_if_cancelled()  # Ctrl-C stays Ctrl-C
                    raise SimulatorExitedError(process.returncode) from failed
                raise failed
            if exited and not completed:
                await anyio.lowlevel.checkpoint_if_cancelled()  # Ctrl-C stays Ctrl-C
                raise SimulatorExitedError(process.returncode or 0)
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process, stop_timeout)


async def _ready(process: Process, within: float) -> dict[str, str]:
    """The nodes of the readiness line (``{"event": "ready", "nodes": {...}}``)."""
    assert process.stdout is not None
    buffered = b""
    with anyio.move_on_after(within):
        async for chunk in process.stdout:
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "ready":
                    return {str(k): str(v) for k, v in event["nodes"].items()}
        raise SimulatorStartError(f"the simulator exited (code {await process.wait()})")
    raise SimulatorStartError(f"the simulator was not ready within {within:g} s")


async def _stop(process: Process, grace: float) -> None:
    if process.returncode is None:
        if process.stdin is not None:
            await process.stdin.aclose()
        process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(grace):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()
