"""The receiver under uvicorn on loopback: the simulator pushes as the document shows, several
pushes in flight, the receiver down for a while; a slow body is cut by the deadline."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from m5c_async.journal import Journal
from m5c_async.journal._store import QUARANTINE_ROW_BYTES
from m5c_async.protocol import PushFormat
from m5c_async.simulator import (
    AccountConfig,
    EmbeddedServer,
    PlatformSettings,
    free_port,
    run_simulator,
)
from m5c_async.webhook import WebhookReceiver, receiver_config
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import form, serve, wait_for

TOKEN = "e2e-secret-token-0123"
GOOD = "12345678901234,13800000000,DELIVRD,1462880473"
ODD = ["好,的", "C++ 100%", "1+1=2", "[/bold] <b>&", "%e5%a5%bd", "好;的"]


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(sql).fetchone()[0])


@pytest.mark.parametrize("fmt", list(PushFormat))
async def test_every_push_lands_once_with_the_receiver_down_for_a_while(
    tmp_path: Path, fmt: PushFormat
) -> None:
    """250 reports and odd replies, pushed in batches of 20, several at once; all stored once."""
    db = tmp_path / "hook.db"
    async with Journal(db) as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN)
        async with serve(receiver) as url:
            hook = f"{url}/{TOKEN}"
            account = AccountConfig(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                report_push_url=hook + "/reports",
                reply_push_url=hook + "/replies",
                push_format=fmt,
            )
            settings = PlatformSettings(report_delay=(0.01, 0.05), push_batch=20)
            async with (
                run_simulator([account], nodes=1, settings=settings) as sim,
                httpx.AsyncClient(base_url=sim.base_urls[0]) as http,
            ):
                pusher = sim.pusher
                assert pusher is not None
                pusher.backoff = 0.05
                state = sim.platform.account("mlrt")
                state.report_push_url = "http://127.0.0.1:9/reports"  # down: a closed port
                numbers = [f"138{i:08d}" for i in range(250)]
                sent = await http.post(
                    "/api/send/index.php", data=form(mobile=",".join(numbers), content="x")
                )
                assert sent.text.startswith("success:")
                await wait_for(lambda: pusher.failures > 0)
                state.report_push_url = hook + "/reports"
                for text in ODD:
                    sim.platform.inject_reply("mlrt", "13800000000", text)
                await wait_for(
                    lambda: pusher.pushed["report"] == 250 and pusher.pushed["reply"] == len(ODD)
                )
                assert pusher.peak_in_flight >= 2
    assert count(db, "SELECT COUNT(*) FROM report_log") == 250
    assert count(db, "SELECT COUNT(DISTINCT mobile) FROM reports") == 250
    with sqlite3.connect(db) as conn:
        contents = [r[0] for r in conn.execute("SELECT content FROM reply_log ORDER BY reply_id")]
        held = [r[0] for r in conn.execute("SELECT raw FROM quarantine ORDER BY id")]
    # The literal "%e5%a5%bd" a handset typed is entirely urlencoded: read as 好 (documented).
    if fmt is PushFormat.STRING:
        # A ';' cannot travel in the string form (it separates records): both halves are kept.
        assert contents == [*ODD[:4], "好"]
        assert held[0].endswith(",好") and held[1].startswith("的,")
    else:
        assert contents == [*ODD[:4], "好", "好;的"]
        assert held == []


@asynccontextmanager
async def served(receiver: WebhookReceiver, **kw: Any) -> AsyncIterator[int]:
    """The receiver under uvicorn with ``receiver_config`` on a free loopback port."""
    port = free_port()
    server = EmbeddedServer(receiver_config(receiver, host="127.0.0.1", port=port, **kw))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(5):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield port
        finally:
            server.should_exit = True


def _recv_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (the socket has its own timeout)."""
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_a_slow_body_is_cut_by_the_deadline(tmp_path: Path) -> None:
    """Headers promise 50 bytes, 5 arrive, then nothing: 408 within the body deadline."""
    async with Journal(tmp_path / "slow.db") as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN, body_timeout=0.3)
        async with served(receiver) as port:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(
                    f"POST /{TOKEN}/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n\r\ndata=".encode()
                )
                answer = await anyio.to_thread.run_sync(sock.recv, 4096)
    assert answer.startswith(b"HTTP/1.1 408")


async def test_trickled_headers_are_cut_by_the_header_deadline(tmp_path: Path) -> None:
    """A client that never finishes its headers is disconnected after header_timeout, and a
    keep-alive connection's next request gets the same deadline."""
    async with Journal(tmp_path / "hdr.db") as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN)
        async with served(receiver, header_timeout=0.3) as port:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                assert await anyio.to_thread.run_sync(_recv_all, sock) == b""
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                body = "data=" + GOOD
                sock.sendall(
                    f"POST /{TOKEN}/reports HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                    f"Content-Type: application/x-www-form-urlencoded\r\n\r\n{body}"
                    "GET /next HTTP/1.1\r\nHost: x\r\n".encode()
                )
                answer = await anyio.to_thread.run_sync(_recv_all, sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"success")


async def test_forwarded_for_from_loopback_is_not_believed_under_uvicorn(tmp_path: Path) -> None:
    """uvicorn's own proxy-header rewriting is off: a local client claiming a node's address
    in X-Forwarded-For is still 127.0.0.1 for the allow-list; a trusted proxy's claim counts."""
    async with Journal(tmp_path / "xff.db") as journal:
        strict = WebhookReceiver(sink=journal, token=TOKEN, allowed_ips=True)
        async with served(strict) as port, httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/{TOKEN}/reports"
            claim = {"x-forwarded-for": "115.28.23.78"}
            assert (await http.post(url, data={"data": GOOD}, headers=claim)).status_code == 403
        trusting = WebhookReceiver(
            sink=journal, token=TOKEN, allowed_ips=True, trusted_proxies=["127.0.0.1"]
        )
        async with served(trusting) as port, httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/{TOKEN}/reports"
            assert (await http.post(url, data={"data": GOOD}, headers=claim)).text == "success"


async def test_pushes_in_the_query_string_as_the_examples_write_them(tmp_path: Path) -> None:
    """The simulator can put data in the query string, as every example URL does."""
    db = tmp_path / "q.db"
    async with Journal(db) as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN)
        async with served(receiver) as port:
            account = AccountConfig(
                username="mlrt",
                password=PASSWORD,
                apikey=APIKEY,
                reply_push_url=f"http://127.0.0.1:{port}/{TOKEN}/replies",
            )
            async with run_simulator([account], nodes=1) as sim:
                pusher = sim.pusher
                assert pusher is not None
                pusher.via = "query"
                sim.platform.inject_reply("mlrt", "13800000000", "好,的 C++ 100%")
                await wait_for(lambda: pusher.pushed["reply"] == 1)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT content FROM reply_log").fetchall() == [("好,的 C++ 100%",)]


async def test_a_full_quarantine_answers_retry_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Under uvicorn: junk past the journal's quarantine limit is answered 500 ``retry`` (its
    readable record stored), clean pushes still ``success``; once the operator drops entries,
    the platform's next try of the same push is kept."""
    db = tmp_path / "full.db"
    junk = ";".join(["9,13800000000,DELIVRD,1"] * 3)  # three unreadable records
    # Each costs its 23 characters, its reason (39) and its row: room for three, not six.
    async with Journal(db, quarantine_limit=4 * (23 + 39 + QUARANTINE_ROW_BYTES)) as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN)
        async with serve(receiver) as url, httpx.AsyncClient(base_url=f"{url}/{TOKEN}") as http:
            first = await http.post(
                "/reports", data={"data": f"1,13800000001,DELIVRD,1462880473;{junk}"}
            )
            assert (first.status_code, first.text) == (200, "success")
            body = {"data": f"2,13800000002,DELIVRD,1462880473;{junk}X"}
            refused = await http.post("/reports", data=body)
            assert (refused.status_code, refused.text) == (500, "retry")
            assert "quarantine full" in caplog.text and "13800000002" not in caplog.text
            clean = await http.post("/reports", data={"data": GOOD})
            assert (clean.status_code, clean.text) == (200, "success")
            await journal.drop_quarantine([e.id for e in await journal.quarantined()])
            retried = await http.post("/reports", data=body)
            assert (retried.status_code, retried.text) == (200, "success")
    assert count(db, "SELECT COUNT(*) FROM report_log") == 3
    with sqlite3.connect(db) as conn:
        raws = [r[0] for r in conn.execute("SELECT raw FROM quarantine ORDER BY id")]
    assert raws == ["9,13800000000,DELIVRD,1"] * 2 + ["9,13800000000,DELIVRD,1X"]


async def test_pushed_escape_sequences_never_reach_the_receivers_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A JSON field name is the pushed text a quarantine reason quotes; the warning the
    receiver logs for it (stderr of ``m5c webhook serve``) shows it as ``\\x1b``, not raw."""
    key = "\x1b]0;owned\x1b\\\x1b[2J"
    body = json.dumps({"results": [{key: {}}]})  # ESC as \u001b
    async with Journal(tmp_path / "esc.db") as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN)
        async with serve(receiver) as url, httpx.AsyncClient(base_url=f"{url}/{TOKEN}") as http:
            pushed = await http.post(
                "/replies", content=body, headers={"content-type": "application/json"}
            )
            assert (pushed.status_code, pushed.text) == (200, "success")
        [entry] = await journal.quarantined()
    assert key in entry.reason  # kept as it came
    assert "parts quarantined" in caplog.text
    assert "\x1b" not in caplog.text and "\\x1b]0;owned" in caplog.text
