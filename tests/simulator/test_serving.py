"""The simulator over real sockets: push with retries, faults at run time, scenarios, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
import uvicorn

from m5c_async import md5_hex
from m5c_async.protocol import PushFormat, parse_reply_push, parse_report_push
from m5c_async.simulator import (
    AccountConfig,
    EmbeddedServer,
    PlatformSettings,
    free_port,
    load_accounts,
    load_scenario,
    parse_account_spec,
    run_simulator,
)
from tests.conftest import APIKEY, PASSWORD

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Receiver:
    """A tiny push receiver: answers ``success`` unless told to fail, and records each push."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.failing = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.failing > 0:
            self.failing -= 1
            answer = b"busy"
        else:
            self.bodies.append(dict(parse_qsl(body.decode("utf-8")))["data"])
            answer = b"success"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = EmbeddedServer(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(5):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


def form(**extra: str) -> dict[str, str]:
    return {
        "username": "mlrt",
        "password_md5": md5_hex(PASSWORD),
        "apikey": APIKEY,
        "encode": "UTF-8",
        **extra,
    }


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():
            await anyio.sleep(0.02)


@pytest.mark.parametrize("fmt", list(PushFormat))
async def test_reports_and_replies_are_pushed_with_retries(fmt: PushFormat) -> None:
    """The receiver refuses twice; the platform retries until success; nothing is lost."""
    receiver = Receiver()
    receiver.failing = 2
    async with serve(receiver) as url:
        account = AccountConfig(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            report_push_url=f"{url}/reports",
            reply_push_url=f"{url}/replies",
            push_format=fmt,
        )
        settings = PlatformSettings(report_delay=(0.01, 0.05))
        async with (
            run_simulator([account], nodes=1, settings=settings) as sim,
            httpx.AsyncClient(base_url=sim.base_urls[0]) as http,
        ):
            numbers = ",".join(f"138{i:08d}" for i in range(30))
            sent = await http.post("/api/send/index.php", data=form(mobile=numbers, content="hi"))
            assert sent.text.startswith("success:")
            await http.post(
                "/_sim/reply",
                json={"username": "mlrt", "mobile": "13800000000", "content": "好,的"},
            )
            pusher = sim.pusher
            assert pusher is not None
            await wait_for(lambda: pusher.pushed["report"] == 30 and pusher.pushed["reply"] == 1)
            assert pusher.failures >= 2
    reports = [
        r
        for body in receiver.bodies
        if "DELIVRD" in body or "UNDELIV" in body or "NOSEND" in body
        for r in parse_report_push(body, fmt)
    ]
    assert sorted(r.mobile for r in reports) == sorted(f"138{i:08d}" for i in range(30))
    replies = [r for body in receiver.bodies for r in _replies(body, fmt)]
    assert [r.content for r in replies] == ["好,的"]


def _replies(body: str, fmt: PushFormat) -> list[Any]:
    try:
        return [r for r in parse_reply_push(body, fmt) if r.reply_id]
    except Exception:
        return []


async def test_push_gives_up_into_the_pull_queue() -> None:
    """After the bounded attempts, reports are kept for the one-shot pull."""
    account = AccountConfig(
        username="mlrt", password=PASSWORD, apikey=APIKEY, report_push_url="http://127.0.0.1:9/x"
    )
    settings = PlatformSettings(report_delay=(0.01, 0.02), push_attempts=2)
    async with (
        run_simulator([account], nodes=1, settings=settings) as sim,
        httpx.AsyncClient(base_url=sim.base_urls[0]) as http,
    ):
        assert sim.pusher is not None
        sim.pusher.backoff = 0.01
        await http.post("/api/send/index.php", data=form(mobile="13800000000", content="x"))
        state = sim.platform.account("mlrt")
        await wait_for(lambda: len(state.pending_reports) == 1)
        pulled = await http.post("/api/recv/index.php", data=form())
        assert ",13800000000," in pulled.text


async def test_scenario_timeline_takes_a_node_down_and_back(tmp_path: Path) -> None:
    """A scenario file closes Qingdao's port for a window, then reopens it."""
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps(
            [
                {"at": 0.1, "node": "qingdao", "down": True},
                {"at": 0.6, "node": "qingdao", "down": False},
            ]
        )
    )
    events = load_scenario(scenario)
    async with (
        run_simulator(
            [AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)],
            nodes=2,
            scenario=events,
        ) as sim,
        httpx.AsyncClient() as http,
    ):
        url = sim.base_urls[0] + "/_sim/stats"
        assert (await http.get(url)).status_code == 200
        await anyio.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            await http.get(url, headers={"connection": "close"})
        await anyio.sleep(0.6)
        assert (await http.get(url)).status_code == 200


def test_scenario_and_account_files(tmp_path: Path) -> None:
    """TOML scenarios and accounts load; bad ones are refused with a reason."""
    good = tmp_path / "s.toml"
    good.write_text('[[events]]\nat = 5\nnode = "beijing"\nlatency = 0.2\n')
    [event] = load_scenario(good)
    assert (event.at, event.node, event.changes) == (5.0, "beijing", {"latency": 0.2})
    bad = tmp_path / "b.toml"
    bad.write_text('[[events]]\nat = 5\nnode = "beijing"\nexplode = true\n')
    with pytest.raises(ValueError, match="unknown fault"):
        load_scenario(bad)
    missing = tmp_path / "m.json"
    missing.write_text('[{"node": "us"}]')
    with pytest.raises(ValueError, match="without"):
        load_scenario(missing)
    accounts = tmp_path / "a.toml"
    accounts.write_text(
        '[[accounts]]\nusername = "shop"\npassword = "p"\napikey = "k"\nprofile = "marketing"\n'
        'push_format = "json"\nblacklist = [["13800000000", "complaint"]]\n'
        'black_keywords = ["x"]\ninternational_balance = 5\n'
    )
    [acc] = load_accounts(accounts)
    assert (acc.profile.value, acc.push_format.value, acc.blacklist) == (
        "marketing",
        "json",
        (("13800000000", "complaint"),),
    )
    assert parse_account_spec("u1x:p:k:personalized").profile.value == "personalized"
    with pytest.raises(ValueError, match="USERNAME"):
        parse_account_spec("only:two")


def test_cli_prints_readiness_and_serves() -> None:
    """python -m m5c_async.simulator prints the demo account and a readiness line, then serves."""
    # --port 0: the simulator picks (and holds) a free block and prints it.
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async.simulator", "--port", "0", "--nodes", "2"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        _check_cli(proc)


def _check_cli(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "demo" in lines[0]
        assert lines[1].startswith("m5c simulator ready: qingdao=http://127.0.0.1:")
        port = int(lines[1].split("qingdao=http://127.0.0.1:", 1)[1].split()[0])
        reply = httpx.post(
            f"http://127.0.0.1:{port + 1}/api/query/index.php",
            data={
                "username": "demo",
                "password_md5": md5_hex("demo-password"),
                "apikey": "0123456789abcdef0123456789abcdef",
            },
        )
        assert reply.text == "10000000/10000000"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
