"""Real network peers for the client's connection options: Debian's tinyproxy, started on a free
loopback port, and a certificate for 127.0.0.1 from a throwaway CA (``trustme``)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from m5c_async.simulator import free_port

__all__ = ["Proxy", "SelfSigned", "self_signed", "tinyproxy"]


@dataclass(frozen=True, slots=True)
class Proxy:
    """A running tinyproxy: its URL and its log (one line per request it forwarded)."""

    url: str
    log: Path

    def requests(self) -> list[str]:
        """The request lines the proxy logged (``CONNECT host:port`` or ``GET http://...``)."""
        if not self.log.exists():
            return []
        return [
            line.split("): ", 1)[1]
            for line in self.log.read_text(errors="replace").splitlines()
            if "Request (file descriptor" in line and "): " in line
        ]


def _wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tinyproxy exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)  # polling a port for a condition, under a deadline
    raise RuntimeError("tinyproxy did not listen in time")


@contextlib.contextmanager
def tinyproxy(directory: Path, *, basic_auth: tuple[str, str] | None = None) -> Iterator[Proxy]:
    """Run tinyproxy on a free loopback port for the duration of the block."""
    port = free_port()
    log = directory / "tinyproxy.log"
    conf = directory / "tinyproxy.conf"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 200",
        "Allow 127.0.0.1",
        f'LogFile "{log}"',
        "LogLevel Info",
        "DisableViaHeader Yes",
    ]
    if basic_auth is not None:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    conf.write_text("\n".join(lines) + "\n")
    with subprocess.Popen(
        ["tinyproxy", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as proc:
        try:
            _wait_listening(port, proc)
            yield Proxy(url=f"http://127.0.0.1:{port}", log=log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class SelfSigned:
    """A certificate for 127.0.0.1 issued by a throwaway CA (``trustme``): ``cert`` is the CA's
    certificate file (what a client trusts), ``key_and_chain`` the server's key and chain."""

    cert: Path
    key_and_chain: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.key_and_chain)
        return context


def self_signed(directory: Path) -> SelfSigned:
    """Make a CA and a certificate for 127.0.0.1, as files in ``directory``."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key_and_chain = directory / "ca.pem", directory / "server.pem"
    ca.cert_pem.write_to_path(str(cert))
    issued.private_key_and_cert_chain_pem.write_to_path(str(key_and_chain))
    return SelfSigned(cert=cert, key_and_chain=key_and_chain)
