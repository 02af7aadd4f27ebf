"""The dashboard over real HTTP (uvicorn on loopback): the JSON the page polls, the files it
loads, what it refuses; and ``m5c dashboard`` as a command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx

from m5c_async.dashboard import DashboardApp, JournalReader, dashboard_config
from m5c_async.journal import Journal
from m5c_async.protocol import InboundReply
from m5c_async.simulator import EmbeddedServer, free_port
from tests.conftest import FakeClock

from .conftest import NUMBERS, XSS


@asynccontextmanager
async def served(app: DashboardApp) -> AsyncIterator[str]:
    """The app under uvicorn with the command's own configuration, on a free port."""
    port = free_port()
    server = EmbeddedServer(dashboard_config(app, host="127.0.0.1", port=port))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


async def test_the_json_the_page_polls(journal_file: tuple[Path, int]) -> None:
    """/api/campaigns lists the campaign; /api/campaigns/<id> and /latest are the reader's
    snapshot; snapshots are shared by clients within half an interval."""
    path, cid = journal_file
    clock = FakeClock(0.0)
    app = DashboardApp(JournalReader(path), interval=2.0, clock=clock)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        listing = (await http.get("/api/campaigns")).json()
        assert listing["journal"] == "known.db"
        assert listing["interval"] == 2.0
        assert [(c["id"], c["name"], c["profile"]) for c in listing["campaigns"]] == [
            (cid, "campaign", "notification")
        ]
        one = await http.get(f"/api/campaigns/{cid}")
        assert one.status_code == 200
        assert one.headers["content-type"] == "application/json"
        assert one.headers["cache-control"] == "no-store"
        body = one.json()
        expected = JournalReader(path).snapshot(cid)
        assert expected is not None
        assert {k: v for k, v in body.items() if k != "generated"} == {
            k: v for k, v in expected.items() if k != "generated"
        }
        assert body["replies"]["latest"][0]["content"] == XSS
        assert "13800130003" not in one.text, "reply numbers are masked"
        latest = await http.get("/api/campaigns/latest")
        assert latest.json()["campaign"]["id"] == cid
        before = app.queries
        await http.get(f"/api/campaigns/{cid}")
        assert app.queries == before, "a second viewer within half an interval reuses it"
        clock.advance(10.0)
        await http.get(f"/api/campaigns/{cid}")
        assert app.queries == before, "nothing was written: the snapshot still holds"
        async with Journal(path) as journal:
            await journal.store_replies(
                [InboundReply(ext="0", reply_id="9", mobile=NUMBERS[5], content="好", at=None)]
            )
        changed = (await http.get(f"/api/campaigns/{cid}")).json()
        assert app.queries == before + 1
        assert changed["replies"]["count"] == 2
        clock.advance(31.0)
        await http.get(f"/api/campaigns/{cid}")
        assert app.queries == before + 2, "read again after 30 s all the same"
        missing = await http.get("/api/campaigns/99")
        assert (missing.status_code, missing.json()) == (404, {"error": "no such campaign"})
        for odd in ("/api/campaigns/-1", "/api/campaigns/1e3", "/api/campaigns/١", "/nope"):
            assert (await http.get(odd)).status_code == 404, odd


async def test_a_slow_journal_is_read_at_most_a_fifth_of_the_time(
    journal_file: tuple[Path, int],
) -> None:
    """A snapshot that takes 1 s to read is kept 4 s, whatever the interval asks."""
    path, cid = journal_file
    clock = FakeClock(0.0)

    class Slow(JournalReader):
        """Takes a second to read a journal that changes all the time."""

        def snapshot(self, campaign_id: int | None = None) -> dict[str, object] | None:
            clock.advance(1.0)
            return super().snapshot(campaign_id)

        def version(self) -> tuple[int, ...]:
            return (int(clock.now * 1000),)

    app = DashboardApp(Slow(path), interval=0.2, clock=clock)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        await http.get(f"/api/campaigns/{cid}")
        clock.advance(3.9)
        await http.get(f"/api/campaigns/{cid}")
        assert app.queries == 1
        clock.advance(0.2)
        await http.get(f"/api/campaigns/{cid}")
        assert app.queries == 2


async def test_the_page_its_files_and_what_is_refused(journal_file: tuple[Path, int]) -> None:
    """The page loads only its own script and style under a strict policy; other methods, other
    Host names (DNS rebinding) and unknown paths are refused."""
    path, _ = journal_file
    async with (
        served(DashboardApp(JournalReader(path))) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert '<script src="static/dashboard.js" defer></script>' in page.text
        assert "http://" not in page.text and "https://" not in page.text, "nothing remote"
        script = await http.get("/static/dashboard.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "innerHTML" not in script.text, "data is only ever set as text"
        assert "fetch(" in script.text and "http" not in script.text.replace("http://www.w3", "")
        style = await http.get("/static/dashboard.css")
        assert style.headers["content-type"].startswith("text/css")
        assert (await http.head("/")).content == b""
        post = await http.post("/api/campaigns", content=b"x")
        assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
        rebound = await http.get("/api/campaigns", headers={"Host": "attacker.example:8950"})
        assert rebound.status_code == 421
        assert (await http.get("/", headers={"Host": "localhost:1"})).status_code == 200
        assert (await http.get("/favicon.ico")).status_code == 204


async def test_under_a_path_prefix(journal_file: tuple[Path, int]) -> None:
    """Served with a root path (a reverse proxy that strips its prefix; uvicorn then puts the
    prefix back into the ASGI path, as a mounting framework does): the page and its JSON answer,
    and the page's URLs are relative."""
    path, cid = journal_file
    port = free_port()
    app = DashboardApp(JournalReader(path))
    config = dashboard_config(app, host="127.0.0.1", port=port, root_path="/ops/sms")
    server = EmbeddedServer(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            page = await http.get("/")
            assert 'href="static/dashboard.css"' in page.text
            assert (await http.get("/static/dashboard.js")).status_code == 200
            listing = await http.get("/api/campaigns")
            assert listing.json()["campaigns"][0]["id"] == cid
        server.should_exit = True


async def test_a_journal_that_goes_away_is_a_503_not_a_crash(tmp_path: Path) -> None:
    """The file removed under a running dashboard: the API answers 503 with the reason."""
    from .conftest import build

    path = tmp_path / "gone.db"
    await build(path)
    app = DashboardApp(JournalReader(path), interval=0.01)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert (await http.get("/api/campaigns/latest")).status_code == 200
        path.unlink()
        path.mkdir()  # now a directory: it cannot be opened as a database
        with anyio.fail_after(10):
            while (answer := await http.get("/api/campaigns/latest")).status_code == 200:
                await anyio.sleep(0.02)
        assert answer.status_code == 503
        assert "cannot read" in answer.json()["error"]


def _m5c(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("M5C_")},
    )


def test_command_refuses_a_missing_journal(tmp_path: Path) -> None:
    """Exit 2 with one line naming the path; the file is not created."""
    path = tmp_path / "missing.db"
    with _m5c("dashboard", "--journal", str(path)) as proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err == f"m5c: not found: no journal at {path}\n"
    assert out == ""
    assert not path.exists()


async def test_command_serves_and_stops_on_ctrl_c(journal_file: tuple[Path, int]) -> None:
    """``m5c dashboard`` prints its URL, serves the JSON, and is gone within two seconds of
    SIGINT."""
    path, cid = journal_file
    port = free_port()
    with _m5c("dashboard", "--journal", str(path), "--port", str(port)) as proc:
        try:
            assert proc.stderr is not None
            line = await anyio.to_thread.run_sync(proc.stderr.readline)
            assert line.startswith(f"m5c dashboard ready: http://127.0.0.1:{port}/")
            async with httpx.AsyncClient(timeout=10) as http:
                with anyio.fail_after(20):
                    while True:
                        try:
                            answer = await http.get(f"http://127.0.0.1:{port}/api/campaigns")
                            break
                        except httpx.ConnectError:
                            await anyio.sleep(0.05)
            assert answer.json()["campaigns"][0]["id"] == cid
            began = time.monotonic()
            proc.send_signal(signal.SIGINT)
            await anyio.to_thread.run_sync(lambda: proc.wait(timeout=10))
            assert time.monotonic() - began < 2.0
        finally:
            if proc.poll() is None:
                proc.kill()
