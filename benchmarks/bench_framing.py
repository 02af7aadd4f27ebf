"""CPU to frame one reply: the default wire's llhttp path against h11 (httpx's parser).

The reply is a typical send reply from uvicorn (status line, four headers, a 27-byte body). The
llhttp figure goes through ``FastWire``'s own ``Connection`` (its callbacks, the per-exchange
future), not just the parser; the h11 figure includes the request h11 needs to have sent first.
Best of five repeats, in microseconds per reply.

    .venv/bin/python benchmarks/bench_framing.py --replies 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import timeit

import h11
from _common import write

from m5c_async.client._transports._framing import Connection

REPLY = (
    b"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 08:00:00 GMT\r\nServer: uvicorn\r\n"
    b"Content-Length: 27\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"success:2026112508000012345"
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=20_000)
    n = parser.parse_args().replies
    loop = asyncio.new_event_loop()
    connection = Connection(None, 1 << 20)

    def llhttp() -> None:
        waiter = connection.begin(loop)
        connection.data_received(REPLY)
        waiter.result()
        connection.waiter = None

    def with_h11() -> None:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="POST", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(REPLY)
        while not isinstance(conn.next_event(), h11.EndOfMessage | type(h11.NEED_DATA)):
            pass

    figures = {
        name: round(min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6, 2)
        for name, fn in (("llhttp_connection_us", llhttp), ("h11_us", with_h11))
    }
    loop.close()
    write(
        "framing",
        {
            "benchmark": "CPU to frame one typical reply",
            "replies": n,
            "results": figures,
            "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
