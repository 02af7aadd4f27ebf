"""A private redis-server on a free loopback port, that a test can stop and start again.

Debian's ``redis-server`` package (``.ci/run`` installs it). Nothing is saved to disk.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from types import TracebackType
from typing import Self

import redis

from m5c_async.simulator import free_port


class RedisServer:
    """``with RedisServer() as s:`` ... ``s.stop()`` ... ``s.start()`` (again, on the same port)."""

    def __init__(self, *, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required: apt-get install redis-server"
        self.binary = binary
        self.password = password
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL a client connects with (holding the password when there is one)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def url_with(self, password: str | None) -> str:
        """The URL with another password (or none)."""
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it answers PING."""
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with redis.Redis(port=self.port, password=self.password) as probe:
                    probe.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (an outage: connections refused until ``start``)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server dies as well
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections are accepted by the kernel, never answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo ``pause``."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
