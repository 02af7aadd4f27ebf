"""One HTTP/1.1 client connection as an asyncio ``Protocol``, replies framed by llhttp.

Rules (h11 ``_state.py`` habit: stated once, here):

- Every byte read while an exchange waits is fed to ``httptools.HttpResponseParser``; nothing
  here reads a length or a chunk size by hand.
- 1xx interim replies (``100 Continue``, ``103 Early Hints``) are skipped; ``101`` was never
  asked for and is refused.
- A body without ``Content-Length`` or chunked framing ends at EOF (close-delimited), whatever
  the number of writes it came in. EOF before the end of a framed body is a truncated reply.
- 204, 304 (and 1xx) carry no body: complete at the end of the head.
- ``max_reply_bytes`` counts body bytes as they arrive, for every framing; a declared
  ``Content-Length`` above it is refused before the body is read. The head may not pass 64 KiB.
- A connection is kept only after an HTTP/1.1 reply that llhttp says is keep-alive (no
  ``Connection: close``, not close-delimited) and with nothing after it.
- Bytes or EOF arriving while no exchange waits make the connection unusable (a server's
  ``408`` then close, a FIN); ``quiet`` also peeks at the socket, so a FIN that the event loop
  has not dispatched yet is seen too.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final, cast

import httptools

from ._base import MalformedReply, MaybeSent, ReplyTooLarge

__all__ = ["Connection"]

HEAD_LIMIT: Final = 64 * 1024
_NEXT_MESSAGE: Final = "bytes after the end of the reply"


class _Stop(Exception):
    """Raised inside a parser callback to stop feeding; the reason is in ``Connection.error``."""


class Connection(asyncio.Protocol):
    """A client connection: one exchange at a time, its reply framed by llhttp."""

    def __init__(self, sock: socket.socket | None, max_reply_bytes: int) -> None:
        self.sock = sock
        self.max_reply_bytes = max_reply_bytes
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.unsolicited = False
        self.idle_since = 0.0
        self._drain: asyncio.Future[None] | None = None
        self._paused = False
        # The exchange in progress.
        self.status = 0
        self.chunks: list[bytes] = []
        self.size = 0
        self.head_bytes = 0
        self.headers_done = False
        self.framed = False
        self.declared = 0
        self.done = False
        self.keep = False
        self.error: BaseException | None = None
        self.stop_at_head = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.unsolicited = True
            return
        if not self.headers_done:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            # A callback stopped the parser: ``_Stop`` with its reason in ``error``, or the end of
            # the reply followed by more bytes. Anything else would be a bug here: never a hang.
            if self.error is None and not self.done:
                self.error = MaybeSent("RemoteProtocolError: the reply could not be framed")
        except httptools.HttpParserUpgrade:
            self.error = MalformedReply("an unrequested protocol switch (101)")
        except httptools.HttpParserError as exc:
            if self.done:
                self.keep = False
            else:
                self.error = MalformedReply(f"RemoteProtocolError: {exc}")
        if self.error is None and not self.headers_done and self.head_bytes > HEAD_LIMIT:
            self.error = MalformedReply(f"a reply head over {HEAD_LIMIT} bytes")
        if self.error is not None:
            self._finish(self.error)
        elif self.done:
            self._finish(None)

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.done:
            self.keep = False
            self.error = None
            raise _Stop(_NEXT_MESSAGE)

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-length":
            # llhttp has checked the value (digits only, no second one) before this call.
            self.framed = True
            self.declared = int(value)
        elif lower == b"transfer-encoding" and value.rstrip().lower().endswith(b"chunked"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        status = self.status = self.parser.get_status_code()
        if self.stop_at_head:
            # A CONNECT reply: what follows the head belongs to the tunnel.
            self.done = True
            raise _Stop
        # 1xx, 204 and 304 carry no body whatever their Content-Length says.
        if self.declared > self.max_reply_bytes and status >= 200 and status not in (204, 304):
            self.error = ReplyTooLarge(
                f"reply of {self.declared} bytes exceeds {self.max_reply_bytes}"
            )
            raise _Stop

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.max_reply_bytes:
            self.error = ReplyTooLarge(f"reply exceeds {self.max_reply_bytes} bytes")
            raise _Stop
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status == 101:
            self.error = MalformedReply("an unrequested protocol switch (101)")
            raise _Stop
        if 100 <= status < 200:
            # An interim reply: the final one follows on the same connection.
            self.headers_done = False
            self.framed = False
            self.declared = 0
            self.head_bytes = 0
            return
        self.done = True
        self.keep = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive()

    # --- used by the wire ------------------------------------------------------------------

    def begin(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """Reset for a new exchange and return the future its reply completes."""
        self.status = 0
        self.chunks = []
        self.size = 0
        self.head_bytes = 0
        self.headers_done = False
        self.framed = False
        self.declared = 0
        self.done = False
        self.keep = False
        self.error = None
        waiter = loop.create_future()
        self.waiter = waiter
        return waiter

    def body(self) -> bytes:
        """The body of the completed reply (the connection lets go of it)."""
        chunks, self.chunks = self.chunks, []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def quiet(self, now: float, expiry: float) -> bool:
        """True when the idle connection may carry a request: open, silent, not expired."""
        if self.closed or self.unsolicited or now - self.idle_since >= expiry:
            return False
        if self.sock is None:
            return True
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        # b"" is a FIN; anything else is bytes nobody asked for.
        return False

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if self._paused and not self.closed:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def fail(self, error: BaseException) -> None:
        """End the exchange with ``error`` (a timeout, ``aclose``) and drop the connection."""
        self._finish(error)
        self.abort()

    def abort(self) -> None:
        """Close now, without waiting for buffered writes."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close after buffered writes."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _ended(self, exc: BaseException | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self.headers_done and not self.framed and not self.stop_at_head:
            # A close-delimited body ends here.
            self.done = True
            self.keep = False
            self._finish(None)
            return
        reason = f": {exc}" if exc else ""
        self._finish(
            MaybeSent(f"RemoteProtocolError: connection closed before the reply ended{reason}")
        )

    def _finish(self, error: BaseException | None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            self.keep = False
            waiter.set_exception(error)
