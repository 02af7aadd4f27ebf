"""Real processes for CLI tests: the simulator (``python -m m5c_async.simulator``) and ``m5c``
commands whose stderr is read line by line while they run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from m5c_async.simulator import free_port

ACCOUNT = ("mlrt", "cli-test-pw", "0123456789abcdef0123456789abcdef")


@contextmanager
def simulator(*options: str, nodes: int = 1) -> Iterator[str]:
    """A simulator process on free loopback ports; yields the first node's base URL."""
    port = free_port(count=nodes)
    command = [sys.executable, "-m", "m5c_async.simulator", "--port", str(port)]
    command += ["--nodes", str(nodes), "--account", ":".join(ACCOUNT), *options]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as sim:
        try:
            assert sim.stdout is not None
            assert "ready" in sim.stdout.readline()
            yield f"http://127.0.0.1:{port}"
        finally:
            sim.terminate()
            sim.wait(timeout=10)


def sim_stats(base: str) -> dict[str, object]:
    """The simulator's ``/_sim/stats``."""
    stats: dict[str, object] = httpx.get(base + "/_sim/stats", timeout=10).json()
    return stats


def sim_sent(base: str) -> list[str]:
    """Every number the simulator accepted, once per acceptance (``/_sim/ledger``)."""
    ledger = httpx.get(base + "/_sim/ledger", timeout=30).json()
    return [m for entry in ledger for m in entry["mobiles"]]


def m5c_env(base: str, **extra: str) -> dict[str, str]:
    """The environment of an ``m5c`` command on the simulator's account."""
    env = dict(os.environ)
    env.update(
        M5C_USERNAME=ACCOUNT[0],
        M5C_PASSWORD=ACCOUNT[1],
        M5C_APIKEY=ACCOUNT[2],
        M5C_BASE_URL=base,
        **extra,
    )
    return env


def _sigint_as_a_terminal_sends_it() -> None:
    # A suite started in the background (``make test &``, nohup) ignores SIGINT, and a child
    # inherits that: it would ignore the Ctrl-C the tests send. Python turns SIGINT into
    # KeyboardInterrupt only when it starts with the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Command:
    """A running ``m5c`` command; its stderr lines are collected as they come. It receives
    SIGINT as from a terminal, whatever the test process ignores."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "m5c_async", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_sigint_as_a_terminal_sends_it,
        )
        self.stderr: list[str] = []
        self.stdout = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def wait_for(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        """Wait until ``condition()`` holds (checked every 20 ms), or fail after ``seconds``."""
        deadline = time.monotonic() + seconds
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"{what}: the command ended ({self.proc.returncode})")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {seconds} s")
            time.sleep(0.02)

    def finish(self, timeout: float) -> int:
        """Wait for the exit (killing it past ``timeout``, then raising); returns the exit code.

        ``stdout`` is read once the command ended (``--json`` prints one line at the end).
        """
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._reader.join(timeout=5)
            assert self.proc.stdout is not None
            assert self.proc.stderr is not None
            self.proc.stderr.close()
            self.stdout = self.proc.stdout.read()
            self.proc.stdout.close()
        return self.proc.returncode
