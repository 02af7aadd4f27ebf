"""No log line of this library or of httpx/httpcore carries a credential, at any level.

Every record is captured at DEBUG (root and the library's, httpx's and httpcore's loggers),
formatted with its traceback, and searched for each form of each secret: the password raw and
percent-encoded, its md5 in either case, the apikey raw and percent-encoded. Both wires, both
methods, against the simulator under uvicorn (success, queries) and a scripted server whose error
pages and garbled replies quote the whole request (failures, warnings, tracebacks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from m5c_async import AsyncClient, M5CError
from m5c_async.protocol import md5_hex
from m5c_async.simulator import AccountConfig, run_simulator
from tests.scripted import Answer, Request, scripted

#: A password and an apikey that change under percent-encoding.
PASSWORD = "密 码/pass&=1"
APIKEY = "k3y+with/odd=chars~0123456789abcd"
MD5 = md5_hex(PASSWORD)
FORMS = sorted(
    {
        PASSWORD,
        quote(PASSWORD, safe=""),
        quote_plus(PASSWORD),
        quote(PASSWORD.encode("gbk"), safe=""),
        MD5,
        MD5.upper(),
        APIKEY,
        quote(APIKEY, safe=""),
        quote_plus(APIKEY),
    }
)
ACCOUNT = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
LOGGERS = ("", "m5c_async", "m5c_async.engine", "httpx", "httpcore")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    capture = Capture()
    before = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(capture)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def assert_clean(capture: Capture) -> None:
    text = "\n".join(capture.lines)
    leaks = [form for form in FORMS if form.lower() in text.lower()]
    assert not leaks, leaks


def client(nodes: list[str], wire: str, method: str) -> AsyncClient:
    return AsyncClient(
        username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=nodes, wire=wire, method=method
    )


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("wire", ["fast", "httpx"])
async def test_no_secret_in_any_log_line_of_a_working_session(
    captured: Capture, wire: str, method: str
) -> None:
    async with (
        run_simulator([ACCOUNT], nodes=1) as sim,
        client(sim.base_urls, wire, method) as sms,
    ):
        await sms.send(["13800138000"], "验证码 1234【示例】")
        await sms.balance()
        await sms.reports()
    if wire == "httpx":
        # The capture did see httpx's request lines: the test looks where the URL is logged.
        assert any(line.startswith("httpx INFO HTTP Request") for line in captured.lines)
    assert_clean(captured)


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("wire", ["fast", "httpx"])
async def test_no_secret_in_any_log_line_of_failures(
    captured: Capture, wire: str, method: str
) -> None:
    def answer(request: Request) -> Answer:
        if "/api/send/" in request.path:
            return Answer(502, f"bad gateway for {request.raw}")
        if "/api/recv/" in request.path:
            return Answer(body=f"garbled {request.raw}")
        return Answer(403, f"forbidden: {request.raw}")

    async with scripted(answer) as server, client([server.url], wire, method) as sms:
        for call in (
            lambda: sms.send(["13800138000"], "x"),
            sms.balance,
            sms.reports,
        ):
            try:
                await call()
            except M5CError as exc:
                # An application logs an unexpected error whole, on its own logger (unguarded).
                logging.getLogger("app").exception("call failed: %s", exc)
    assert any("Traceback" in line for line in captured.lines)
    assert_clean(captured)
