"""The webhook receiver over ASGI: the document's push examples, tolerance, security, bounds."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
import pytest

from m5c_async import InvalidParameterError
from m5c_async.journal import Journal
from m5c_async.protocol import DeliveryReport, PushBatch, format_report_push
from m5c_async.webhook import DEFAULT_ALLOWED_IPS, WebhookReceiver
from tests import doc_pushes as doc

TOKEN = "0123456789abcdef-token"
GOOD = "12345678901234,13800000000,DELIVRD,1462880473;12345678901234,13900000000,UNDELIV,1462880474"
NODE = "115.28.23.78"


def client(app: WebhookReceiver, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hook")


@asynccontextmanager
async def journaled(tmp_path: Path, **kw: Any) -> AsyncIterator[tuple[WebhookReceiver, Journal]]:
    async with Journal(tmp_path / "hook.db") as journal:
        yield WebhookReceiver(sink=journal, token=TOKEN, **kw), journal


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def query_of(url: str) -> str:
    return url.split("?", 1)[1].replace("\n", "")


# Per example: (how it is sent, report or reply, stored first fields, quarantined raw starts).
EXAMPLES = [
    ("REPORT_STRING_URL", "reports", ["309111755558600"], ["309111755559999,"]),
    ("REPORT_JSON_URL", "reports", ["12122663121210", "2322613121411"], []),
    ("REPORT_XML_URL", "reports", [], ['<?xml version="1.0" encoding="utf-8"?><results><it>']),
    ("REPLY_STRING_URL_AS_PRINTED", "replies", ["好", "嗯"], []),
    ("REPLY_JSON_URL", "replies", ["H", "E5%91%B5呵呵呵呵，345", "E4%B9%88么哒189志伟"], []),
    ("REPLY_XML_URL", "replies", [], ['<?xml version=221.0" encoding=22utf-8"?>']),
]
DECODED = [
    ("REPORT_STRING_DECODED_AS_PRINTED", "reports", ["309111755558600"], ["309111755559999,"]),
    ("REPORT_JSON_DECODED", "reports", ["12122663121210", "22322613121411"], []),
    ("REPORT_XML_DECODED", "reports", ["1412544124087"], []),
    ("REPLY_STRING_DECODED_AS_PRINTED", "replies", ["好"], ["2554,1445347,13811299988,"]),
    ("REPLY_JSON_DECODED", "replies", [], ['{\n  "results":']),
    ("REPLY_XML_DECODED", "replies", ["呵呵哈哈", "任    性    吧"], []),
]


def _first_fields(path: Path, kind: str) -> list[str]:
    if kind == "reports":
        return [r[0] for r in rows(path, "SELECT msgid FROM report_log ORDER BY id")]
    return [r[0] for r in rows(path, "SELECT content FROM reply_log ORDER BY id")]


@pytest.mark.parametrize(("name", "kind", "stored", "held"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_document_examples_as_urls(
    tmp_path: Path, name: str, kind: str, stored: list[str], held: list[str], method: str
) -> None:
    """Each encoded example, its query string sent as printed (line breaks of the page removed):
    success, the right records stored, the rest quarantined with its raw text."""
    async with journaled(tmp_path) as (receiver, _), client(receiver) as http:
        answer = await http.request(method, f"/{TOKEN}/{kind}?{query_of(getattr(doc, name))}")
        assert (answer.status_code, answer.text) == (200, "success")
    assert _first_fields(tmp_path / "hook.db", kind) == stored
    raws = [r[0] for r in rows(tmp_path / "hook.db", "SELECT raw FROM quarantine ORDER BY id")]
    assert len(raws) == len(held)
    assert all(raw.startswith(start) for raw, start in zip(raws, held, strict=True))


@pytest.mark.parametrize(("name", "kind", "stored", "held"), DECODED, ids=[e[0] for e in DECODED])
@pytest.mark.parametrize("how", ["raw-body", "form", "multipart"])
async def test_document_examples_decoded(
    tmp_path: Path, name: str, kind: str, stored: list[str], held: list[str], how: str
) -> None:
    """Each "编码前" example as a raw body, a form field and a multipart part: same outcome."""
    data = getattr(doc, name)
    data = data.split("data=", 1)[1] if data.startswith("http://") else data
    async with journaled(tmp_path) as (receiver, _), client(receiver) as http:
        url = f"/{TOKEN}/{kind}"
        if how == "raw-body":
            answer = await http.post(
                url, content=data.encode(), headers={"content-type": "text/plain"}
            )
        elif how == "form":
            answer = await http.post(url, data={"data": data})
        else:
            answer = await http.post(url, files={"data": (None, data.encode())})
        assert answer.text == "success"
    assert _first_fields(tmp_path / "hook.db", kind) == stored
    raws = [r[0] for r in rows(tmp_path / "hook.db", "SELECT raw FROM quarantine ORDER BY id")]
    assert [raw[: len(start)] for raw, start in zip(raws, held, strict=True)] == held
    assert len(raws) == len(held)


async def test_legacy_handlers_refuse_what_they_cannot_keep() -> None:
    """on_reports without on_quarantine: a push with an unreadable part is refused whole (400)."""
    got: list[DeliveryReport] = []

    async def on_reports(batch: list[DeliveryReport]) -> None:
        got.extend(batch)

    receiver = WebhookReceiver(on_reports=on_reports, token=TOKEN)
    async with client(receiver) as http:
        assert (await http.post(f"/{TOKEN}/reports", data={"data": GOOD})).text == "success"
        bad = await http.post(f"/{TOKEN}/reports", data={"data": GOOD + ";x,y"})
        assert bad.status_code == 400 and "4 fields" in bad.text
    assert len(got) == 2
    with pytest.raises(ValueError, match="sink"):
        WebhookReceiver(token=TOKEN)


async def test_refusals_and_bounds(tmp_path: Path) -> None:
    """413 on Content-Length before reading, 405, 404, 400 with no data at all."""
    async with journaled(tmp_path, max_body=100) as (receiver, _), client(receiver) as http:
        url = f"/{TOKEN}/reports"
        assert (await http.post(url, data={"data": "x" * 200})).status_code == 413
        assert (await http.put(url, data={"data": GOOD})).status_code == 405
        assert (await http.post(f"/{TOKEN}/nope", data={"data": GOOD})).status_code == 404
        assert (await http.post(url + "?x=1")).status_code == 400
    assert receiver.refused == 2


async def test_a_body_that_never_completes_gets_408(tmp_path: Path) -> None:
    """The body deadline: a sender that stops mid-body is answered 408, not waited on forever."""
    sent: list[dict[str, Any]] = []
    stalled = anyio.Event()

    async def receive() -> dict[str, Any]:
        if not stalled.is_set():
            stalled.set()
            return {"type": "http.request", "body": b"data=1", "more_body": True}
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with journaled(tmp_path, body_timeout=0.2) as (receiver, _):
        scope = {"type": "http", "method": "POST", "path": f"/{TOKEN}/reports", "headers": []}
        with anyio.fail_after(5):
            await receiver(scope, receive, send)
    assert sent[0]["status"] == 408


async def test_records_over_the_cap_and_large_bodies_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_records stores that many and quarantines the rest as one entry; a body above
    offload_bytes is parsed in a worker thread."""
    import anyio.to_thread

    calls = 0
    real = anyio.to_thread.run_sync

    async def counting(*args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real(*args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    data = format_report_push([(str(i), "13800000000", "DELIVRD", 1462880473) for i in range(12)])
    async with (
        journaled(tmp_path, max_records=5, offload_bytes=100) as (receiver, _),
        client(receiver) as http,
    ):
        assert (await http.post(f"/{TOKEN}/reports", data={"data": data})).text == "success"
    assert calls == 1
    assert rows(tmp_path / "hook.db", "SELECT COUNT(*) FROM report_log") == [(5,)]
    assert rows(tmp_path / "hook.db", "SELECT records, reason FROM quarantine") == [
        (7, "over the cap of 5 records per push")
    ]


async def test_a_failed_store_answers_retry_and_the_retry_is_not_counted_twice() -> None:
    """The sink raises once (a failed journal write): 500 retry; the platform's retry lands."""
    batches: list[PushBatch[Any]] = []

    class Flaky:
        async def store_push(self, batch: PushBatch[Any], *, peer: str | None = None) -> None:
            if not batches:
                batches.append(batch)
                raise OSError("disk full")
            batches.append(batch)

    receiver = WebhookReceiver(sink=Flaky(), token=TOKEN)
    async with client(receiver) as http:
        first = await http.post(f"/{TOKEN}/reports", data={"data": GOOD})
        assert (first.status_code, first.text) == (500, "retry")
        assert (await http.post(f"/{TOKEN}/reports", data={"data": GOOD})).text == "success"
    assert receiver.received["report"] == 2
    assert batches[0].digest == batches[1].digest


async def test_token_is_required_and_checked() -> None:
    """No token: refused at construction unless insecure; a wrong or missing token: 404."""
    with pytest.raises(InvalidParameterError, match="token"):
        WebhookReceiver(sink=Journal(Path("unused.db")))
    with pytest.raises(InvalidParameterError, match="16-128"):
        WebhookReceiver(sink=Journal(Path("unused.db")), token="short")
    seen: list[Any] = []

    async def on_reports(batch: list[DeliveryReport]) -> None:
        seen.extend(batch)

    receiver = WebhookReceiver(on_reports=on_reports, token=TOKEN)
    async with client(receiver) as http:
        assert (await http.post("/reports", data={"data": GOOD})).status_code == 404
        assert (await http.post("/x" * 12 + "/reports", data={"data": GOOD})).status_code == 404
        assert (await http.post(f"/{TOKEN[:-1]}X/reports", data={"data": GOOD})).status_code == 404
    assert seen == []


async def test_forgery_without_token_is_kept_beside_the_genuine_report(tmp_path: Path) -> None:
    """Run open (insecure): a forged UNDELIV posted first is stored, the genuine push later
    is stored too and becomes the status. With a token the forger only gets 404."""
    async with Journal(tmp_path / "open.db") as journal:
        receiver = WebhookReceiver(sink=journal, insecure=True)
        async with client(receiver, peer="203.0.113.9") as http:
            forged = "12345678901234,13800000000,UNDELIV,1462880473"
            assert (await http.get("/reports?" + urlencode({"data": forged}))).text == "success"
        async with client(receiver, peer=NODE) as http:
            genuine = "12345678901234,13800000000,DELIVRD,1462880473"
            assert (await http.get("/reports?" + urlencode({"data": genuine}))).text == "success"
    assert rows(tmp_path / "open.db", "SELECT status, peer FROM report_log ORDER BY id") == [
        ("UNDELIV", "203.0.113.9"),
        ("DELIVRD", NODE),
    ]
    assert rows(tmp_path / "open.db", "SELECT status FROM reports") == [("DELIVRD",)]


async def test_allow_list_and_forwarded_for(tmp_path: Path) -> None:
    """The nodes' IPs only; X-Forwarded-For believed only from a trusted proxy."""
    async with Journal(tmp_path / "a.db") as journal:
        strict = WebhookReceiver(sink=journal, token=TOKEN, allowed_ips=True)
        assert strict.allowed is not None
        assert all(strict.allowed.contains(ip) for ip in DEFAULT_ALLOWED_IPS)
        url = f"/{TOKEN}/reports"
        async with client(strict, peer="203.0.113.9") as http:
            assert (await http.post(url, data={"data": GOOD})).status_code == 403
            spoofed = await http.post(url, data={"data": GOOD}, headers={"x-forwarded-for": NODE})
            assert spoofed.status_code == 403
        async with client(strict, peer=NODE) as http:
            assert (await http.post(url, data={"data": GOOD})).text == "success"
        proxied = WebhookReceiver(
            sink=journal, token=TOKEN, allowed_ips=True, trusted_proxies=["10.0.0.0/8"]
        )
        async with client(proxied, peer="10.1.2.3") as http:
            ok = await http.post(url, data={"data": GOOD}, headers={"x-forwarded-for": NODE})
            assert ok.text == "success"
            # The right-most untrusted hop is the client: a forged left-most entry is ignored.
            chain = f"{NODE}, 203.0.113.9, 10.9.9.9"
            forged = await http.post(url, data={"data": GOOD}, headers={"x-forwarded-for": chain})
            assert forged.status_code == 403
    assert rows(tmp_path / "a.db", "SELECT DISTINCT peer FROM report_log") == [(NODE,)]


# Odd requests: (what, how it is sent, the answer, records stored, quarantine rows).
ODD: list[tuple[str, dict[str, Any], int, int, int]] = [
    ("NUL in a field", {"data": {"data": "1,138\x00,D,1462880473;2,13800000000,D,"}}, 200, 1, 1),
    ("Arabic-Indic digits", {"data": {"data": "١٢٣,13800000000,D,1462880473"}}, 200, 0, 1),
    ("superscript digits", {"data": {"data": "¹²,13800000000,D,1462880473"}}, 200, 0, 1),
    (
        "bad escapes",
        {"content": b"data=%zz%2", "headers": {"content-type": "text/plain"}},
        200,
        0,
        1,
    ),
    (
        "multipart without a boundary",
        {"content": b"data=1", "headers": {"content-type": "multipart/form-data"}},
        200,
        0,
        1,
    ),
    (
        "a 60 KiB status",
        {"data": {"data": "1,13800000000," + "S" * 61_440 + ",1462880473"}},
        200,
        0,
        1,
    ),
    ("only separators", {"data": {"data": ";;;,;"}}, 200, 0, 1),
    ("GBK bytes in the body", {"content": "data=1,2,拒收,1462880473".encode("gbk")}, 200, 1, 0),
    ("an empty data field", {"data": {"data": ""}}, 200, 0, 1),
    ("no data, no body", {}, 400, 0, 0),
]


@pytest.mark.parametrize(("what", "sent", "status", "stored", "held"), ODD, ids=[o[0] for o in ODD])
async def test_odd_requests_are_stored_or_kept(
    tmp_path: Path, what: str, sent: dict[str, Any], status: int, stored: int, held: int
) -> None:
    """Each odd request: stored, or kept in the quarantine with its raw text; never lost, never
    a 500."""
    async with journaled(tmp_path) as (receiver, _), client(receiver) as http:
        answer = await http.post(f"/{TOKEN}/reports", **sent)
    assert answer.status_code == status, answer.text
    db = tmp_path / "hook.db"
    assert rows(db, "SELECT COUNT(*) FROM report_log") == [(stored,)]
    assert rows(db, "SELECT COUNT(*) FROM quarantine") == [(held,)]
