"""The receiver under uvicorn on loopback: the simulator pushes as the document shows, several
pushes in flight, the receiver down for a while; a slow body is cut by the deadline."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import anyio
import httpx
import pytest

from m5c_async.journal import Journal
from m5c_async.protocol import PushFormat
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from m5c_async.webhook import WebhookReceiver
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import form, serve, wait_for

TOKEN = "e2e-secret-token-0123"
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


async def test_a_slow_body_is_cut_by_the_deadline(tmp_path: Path) -> None:
    """Headers promise 50 bytes, 5 arrive, then nothing: 408 within the body deadline."""
    async with Journal(tmp_path / "slow.db") as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN, body_timeout=0.3)
        async with serve(receiver) as url:
            port = int(url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(
                    f"POST /{TOKEN}/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n\r\ndata=".encode()
                )
                answer = await anyio.to_thread.run_sync(sock.recv, 4096)
    assert answer.startswith(b"HTTP/1.1 408")
