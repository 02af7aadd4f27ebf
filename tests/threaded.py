"""A blocking loopback HTTP/1.1 node in a thread, for tests that drive the ``m5c`` command (a
child process) against a peer that is not ours: a bare socket server, written against the bytes.

``tests/scripted.py`` is its asyncio sibling, for tests that run the client in their own loop;
this one serves from a thread, so it answers while the test blocks on a subprocess.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Received", "threaded_node"]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the node read it."""

    line: bytes
    head: bytes
    body: bytes

    @property
    def path(self) -> str:
        return self.line.split(b" ")[1].decode("latin-1")


#: An answer: (status, body); the node frames it with Content-Length.
Answer = tuple[int, bytes]


@contextmanager
def threaded_node(
    answer: Callable[[Received], Answer], *, keep_alive: bool = False
) -> Iterator[str]:
    """Serve ``answer`` on 127.0.0.1 (a free port the kernel picks) and yield the base URL.

    Each connection carries one exchange and is closed (``Connection: close``) unless
    ``keep_alive``, when it carries requests until the client closes it.
    """

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                line = self.rfile.readline(65536)
                if not line:
                    return
                head = [line]
                length = 0
                while (field := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
                    head.append(field)
                    name, _, value = field.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = self.rfile.read(length)
                status, data = answer(Received(line, b"".join(head), body))
                close = "" if keep_alive else "Connection: close\r\n"
                self.wfile.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(data)}\r\n{close}\r\n".encode()
                    + data
                )
                if not keep_alive:
                    return

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(timeout=10)
