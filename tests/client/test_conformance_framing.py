"""Wire conformance, framing: odd-but-legal and broken replies from scripted loopback servers.

Every case runs against the default wire (FastWire, llhttp) and the httpx wire (h11) and expects
the same outcome. The table of cases is in docs/client.md.
"""

from __future__ import annotations

import asyncio

import pytest

from m5c_async.client import MalformedReply, MaybeSent, ReplyTooLarge
from tests.client.scripted import SPEC, MakeWire, Peer, build_wire, scripted, serve_each

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("version", [b"1.0", b"1.1"])
async def test_close_delimited_body_in_several_writes(make_wire: MakeWire, version: bytes) -> None:
    """No length, no chunks: the body is everything until EOF, however many writes it took."""
    head = b"HTTP/" + version + b" 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    pieces = (head, b"success:", b"1234567890", b"12345")
    async with scripted(serve_each(pieces, close=True)) as server:
        wire = make_wire()
        reply = await wire.exchange(server.url, SPEC)
        assert (reply.status, reply.body) == (200, b"success:123456789012345")
        # That connection ended with the body; the next exchange needs (and gets) a new one.
        assert (await wire.exchange(server.url, SPEC)).body == b"success:123456789012345"
    assert len(server.peers) == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["http-1.0", "connection-close"],
)
async def test_replies_that_end_the_connection_are_never_pooled(
    make_wire: MakeWire, reply: bytes
) -> None:
    """HTTP/1.0 or ``Connection: close``: even if the server keeps the socket open, the next
    request goes on a new connection (and never becomes ambiguous)."""
    async with scripted(serve_each(reply, reply)) as server:
        wire = make_wire()
        for _ in range(2):
            assert (await wire.exchange(server.url, SPEC)).body == b"ok"
        await asyncio.wait_for(server.peers[0].closed_by_client.wait(), 10)
    assert len(server.peers) == 2
    assert [len(p.requests) for p in server.peers] == [1, 1]


async def test_chunked_with_extensions_and_trailers_then_reuse(make_wire: MakeWire) -> None:
    """Chunk extensions are ignored and trailers consumed, so the same connection carries the
    next exchange cleanly."""
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n",
        b"4;name=value;flag\r\nsucc\r\n",
        b'6;q="quoted"\r\ness:12\r\n',
        b"0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    )
    async with scripted(serve_each(chunked, OK)) as server:
        wire = make_wire()
        assert (await wire.exchange(server.url, SPEC)).body == b"success:12"
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert len(server.peers) == 1
    assert len(server.peers[0].requests) == 2


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
    ],
    ids=["100", "103", "100-then-103"],
)
async def test_interim_replies_are_skipped(make_wire: MakeWire, interim: bytes) -> None:
    """1xx replies before the final one are not the reply; the connection stays usable."""
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nsuccess:42"
    async with scripted(serve_each((interim, final), OK)) as server:
        wire = make_wire()
        reply = await wire.exchange(server.url, SPEC)
        assert (reply.status, reply.body) == (200, b"success:42")
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert len(server.peers) == 1


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 7\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        b"SMTP ready\r\n\r\n",
    ],
    ids=[
        "conflicting-cl",
        "conflicting-cl-list",
        "cl-garbage",
        "cl-negative",
        "cl-hex",
        "chunk-size-garbage",
        "chunk-size-negative",
        "chunk-no-crlf",
        "not-http",
    ],
)
async def test_broken_framing_is_a_named_maybe_sent(make_wire: MakeWire, reply: bytes) -> None:
    """Conflicting or malformed lengths and illegal chunk sizes: ``MalformedReply`` (a
    ``MaybeSent``: the request left), never a guessed body."""
    async with scripted(serve_each(reply)) as server:
        wire = make_wire()
        with pytest.raises(MalformedReply):
            await wire.exchange(server.url, SPEC)
        await asyncio.wait_for(server.peers[0].closed_by_client.wait(), 10)


async def test_truncated_body_is_maybe_sent(make_wire: MakeWire) -> None:
    """A Content-Length body cut short by the server closing: ``MaybeSent``, not a reply."""

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\nsucc")

    async with scripted(script) as server:
        with pytest.raises(MaybeSent) as caught:
            await make_wire().exchange(server.url, SPEC)
        assert not isinstance(caught.value, MalformedReply | ReplyTooLarge)


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n',
        # The representation's length, above max_reply_bytes: still no body, so no refusal.
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50000\r\n\r\n",
    ],
    ids=["204", "304", "304-large-length"],
)
async def test_bodiless_statuses_complete_at_once(make_wire: MakeWire, reply: bytes) -> None:
    """204 and 304 end with their head (the server keeps the connection open and silent):
    complete well within the 60 s read timeout, and the connection is reused."""
    from m5c_async import Timeouts

    async with scripted(serve_each(reply, OK)) as server:
        wire = make_wire(timeouts=Timeouts(read=60))
        async with asyncio.timeout(10):
            first = await wire.exchange(server.url, SPEC)
        assert (first.status, first.body) == (int(reply[9:12]), b"")
        assert (await wire.exchange(server.url, SPEC)).body == b"ok"
    assert len(server.peers) == 1


BIG = b"x" * 700
CHUNK = b"2bc\r\n" + BIG + b"\r\n"


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1400\r\n\r\n" + BIG, BIG),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", *[CHUNK] * 2),
        (b"HTTP/1.1 200 OK\r\n\r\n", BIG, BIG),
        (b"HTTP/1.0 200 OK\r\n\r\n", BIG, BIG),
    ],
    ids=["declared", "content-length", "chunked", "close-delimited-1.1", "close-delimited-1.0"],
)
async def test_oversized_replies_are_refused_for_every_framing(
    make_wire: MakeWire, reply: bytes | tuple[bytes, ...]
) -> None:
    """Over ``max_reply_bytes`` (1000 here), whatever the framing: ``ReplyTooLarge``."""
    async with scripted(serve_each(reply)) as server:
        with pytest.raises(ReplyTooLarge):
            await make_wire().exchange(server.url, SPEC)
        await asyncio.wait_for(server.peers[0].closed_by_client.wait(), 10)


async def test_unrequested_protocol_switch_is_malformed(make_wire: MakeWire) -> None:
    """A ``101 Switching Protocols`` nobody asked for is not a reply: ``MalformedReply``."""
    switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
    async with scripted(serve_each(switch)) as server:
        with pytest.raises(MalformedReply):
            await make_wire().exchange(server.url, SPEC)


# Where llhttp (the default wire) and h11 (httpx) read the same bytes differently. Neither is
# wrong by RFC 9112; the default wire refuses what could be a smuggling vector or a server bug,
# and reads a non-chunked Transfer-Encoding to EOF as the RFC says. ``None``: MalformedReply.
DIFFERENCES = {
    "duplicate-identical-cl": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        {"fast": None, "httpx": b"hello"},
    ),
    "cl-and-chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        {"fast": None, "httpx": b"hello"},
    ),
    "te-identity-to-eof": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nhello",
        {"fast": b"hello", "httpx": None},
    ),
    "bare-lf": (b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", {"fast": None, "httpx": b"hello"}),
    "obs-fold": (
        b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
        {"fast": None, "httpx": b"hello"},
    ),
}


@pytest.mark.parametrize("case", list(DIFFERENCES))
@pytest.mark.parametrize("kind", ["fast", "httpx"])
async def test_where_the_two_parsers_differ(kind: str, case: str) -> None:
    """The documented differences between the wires (docs/client.md), kept true by this test."""
    reply, expected = DIFFERENCES[case]
    wire = build_wire(kind)
    try:
        async with scripted(serve_each(reply, close=True)) as server:
            if expected[kind] is None:
                with pytest.raises(MalformedReply):
                    await wire.exchange(server.url, SPEC)
            else:
                assert (await wire.exchange(server.url, SPEC)).body == expected[kind]
    finally:
        await wire.aclose()
