"""``spawn_simulator``: the simulator in a child process, driven through its admin routes, and
always stopped: when the block ends, when it is cancelled, when the child cannot start."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import httpx
import pytest

from m5c_async.simulator import (
    DEMO_ACCOUNT,
    SimulatorExitedError,
    SimulatorStartError,
    spawn_simulator,
)


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (an orphan waits there for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def test_nodes_faults_replies_and_accounts_through_the_admin_routes(tmp_path: Path) -> None:
    log = tmp_path / "sim.log"
    async with (
        spawn_simulator(nodes=2, log=log) as sim,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        assert sim.node_names == ["qingdao", "beijing"]
        assert sim.pid != os.getpid()
        stats = await sim.stats()
        assert DEMO_ACCOUNT.username in stats["accounts"]
        await sim.set_account(DEMO_ACCOUNT.username, rate=150)
        assert (await sim.stats())["accounts"][DEMO_ACCOUNT.username]["rate"] == 150
        await sim.set_faults("qingdao", down=True)
        with pytest.raises(httpx.ConnectError):
            await http.get(sim.url("qingdao") + "/_sim/stats")
        await sim.set_faults("qingdao", down=False)
        with anyio.fail_after(10):
            while True:  # the port is opened again by the child's own task
                try:
                    await http.get(sim.url("qingdao") + "/_sim/stats")
                    break
                except httpx.ConnectError:
                    await anyio.sleep(0.02)
        reply_id = await sim.inject_reply(DEMO_ACCOUNT.username, "13800000000", "收到")
        assert reply_id
        pid = sim.pid
    assert _gone(pid)
    assert log.exists()


async def test_a_cancelled_block_stops_the_child() -> None:
    with anyio.CancelScope() as scope:
        async with spawn_simulator(nodes=1) as sim:
            pid = sim.pid
            scope.cancel()
            await anyio.sleep_forever()
    assert _gone(pid)


async def test_a_child_that_cannot_start_is_a_named_error() -> None:
    with pytest.raises(SimulatorStartError, match=r"exited \(code 2\)"):
        async with spawn_simulator(["--limiter", "nonsense"], nodes=1):
            pass


async def test_a_child_not_ready_in_time_is_a_named_error() -> None:
    # No interpreter starts, imports uvicorn and binds four ports within a millisecond.
    with pytest.raises(SimulatorStartError, match="not ready within"):
        async with spawn_simulator(nodes=1, ready_timeout=0.001):
            pass


def _reaped(pid: int) -> bool:
    """Not even a zombie: its parent has collected its exit code."""
    return not Path(f"/proc/{pid}").exists()


async def _kill_in_use(*, then_call: bool) -> None:
    """SIGKILL the child mid-block, then (``then_call``) ask it something, then wait."""
    with anyio.fail_after(10):
        async with spawn_simulator(nodes=1) as sim:
            os.kill(sim.pid, signal.SIGKILL)
            if then_call:
                await sim.stats()
            await anyio.sleep_forever()


async def test_a_child_that_dies_in_use_cancels_the_block_with_a_named_error() -> None:
    """Killed mid-block, the child cancels what waits on it: no campaign goes on against a
    platform that is gone (before: the block waited on, for ever)."""
    with pytest.raises(SimulatorExitedError, match=r"exited while in use \(code -9\)"):
        await _kill_in_use(then_call=False)


async def test_an_admin_call_to_a_dead_child_is_a_named_error() -> None:
    """Not a bare ``httpx.ConnectError`` (the refusal comes before the watch sees the exit)."""
    with pytest.raises(SimulatorExitedError) as caught:
        await _kill_in_use(then_call=True)
    assert caught.value.returncode == -9


async def test_a_child_gone_during_a_cancellation_from_outside_stays_a_cancellation() -> None:
    """Ctrl-C reaches the child too (one process group): its exit must not turn the parent's
    interruption into an error."""
    with anyio.CancelScope() as scope:
        async with spawn_simulator(nodes=1) as sim:
            pid = sim.pid
            os.kill(pid, signal.SIGINT)
            scope.cancel()
            with anyio.CancelScope(shield=True), anyio.fail_after(10):
                while not _reaped(pid):  # its exit code known, the watch has it
                    await anyio.sleep(0.02)
            await anyio.sleep_forever()
    assert scope.cancelled_caught


@pytest.mark.parametrize("stdin", ["devnull", "file"])
async def test_until_stdin_closes_without_a_pipe_is_a_named_error(
    stdin: str, tmp_path: Path
) -> None:
    """``/dev/null`` or a regular file cannot be waited on (epoll refuses them): one line, exit
    2, before any port is bound (before: a traceback from the loop, exit 1)."""
    import subprocess
    import sys

    source = tmp_path / "in.txt"
    source.write_text("x\n")
    command = [sys.executable, "-m", "m5c_async.simulator", "--port", "0", "--nodes", "1"]
    with source.open("rb") as file, anyio.fail_after(30):
        result = await anyio.run_process(
            [*command, "--until-stdin-closes"],
            stdin=subprocess.DEVNULL if stdin == "devnull" else file,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        "m5c simulator: --until-stdin-closes needs a pipe on standard input (whose other end a"
        " parent holds), a socket or a terminal"
    ]
    assert b"ready" not in result.stdout


_PARENT = """
import anyio, sys
from m5c_async.simulator import spawn_simulator

async def main():
    async with spawn_simulator(nodes=1) as sim:
        print(sim.pid, flush=True)
        await anyio.sleep_forever()

anyio.run(main)
"""


async def test_a_parent_killed_outright_takes_the_child_with_it() -> None:
    """SIGKILL leaves no cleanup to run: the child sees its stdin pipe close and stops."""
    import sys

    child = None
    async with await anyio.open_process([sys.executable, "-c", _PARENT]) as parent:
        try:
            assert parent.stdout is not None
            with anyio.fail_after(30):
                line = b""
                async for chunk in parent.stdout:
                    line += chunk
                    if b"\n" in line:
                        break
            child = int(line.split()[0])
            assert not _gone(child)
            parent.send_signal(signal.SIGKILL)
            await parent.wait()
            with anyio.fail_after(10):
                while not _gone(child):
                    await anyio.sleep(0.02)
        finally:
            # A failure above leaves neither a parent sleeping for ever (closing the block
            # would wait on it, for ever) nor an orphan.
            if parent.returncode is None:
                parent.kill()
            if child is not None and not _gone(child):
                os.kill(child, signal.SIGKILL)
