"""The webhook receiver: success only after the handler, refusals with reasons, nothing half."""

from __future__ import annotations

from urllib.parse import urlencode

import anyio
import httpx
import pytest

from m5c_async.protocol import DeliveryReport, InboundReply, PushFormat, format_report_push
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from m5c_async.webhook import DEFAULT_ALLOWED_IPS, WebhookReceiver
from tests.conftest import APIKEY, PASSWORD
from tests.simulator.test_serving import form, serve, wait_for

GOOD = "12345678901234,13800000000,DELIVRD,1462880473;12345678901234,13900000000,UNDELIV,1462880474"


def make(**kwargs: object) -> tuple[WebhookReceiver, list[DeliveryReport], list[InboundReply]]:
    reports: list[DeliveryReport] = []
    replies: list[InboundReply] = []

    async def on_reports(batch: list[DeliveryReport]) -> None:
        reports.extend(batch)

    async def on_replies(batch: list[InboundReply]) -> None:
        replies.extend(batch)

    receiver = WebhookReceiver(on_reports=on_reports, on_replies=on_replies, **kwargs)  # type: ignore[arg-type]
    return receiver, reports, replies


def client(app: WebhookReceiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")


async def test_reports_and_replies_are_handed_on_then_success() -> None:
    """Both paths parse their format and answer success."""
    receiver, reports, replies = make()
    async with client(receiver) as http:
        r = await http.post("/reports", data={"data": GOOD})
        assert (r.status_code, r.text) == (200, "success")
        r = await http.post(
            "/replies", data={"data": "2554,1445347,13811299999,%E5%A5%BD,1462913482"}
        )
        assert r.text == "success"
        # The query-string form the document's examples show.
        r = await http.post("/reports?" + urlencode({"data": GOOD}))
        assert r.text == "success"
    assert [x.status for x in reports] == ["DELIVRD", "UNDELIV"] * 2
    assert replies[0].content == "好"
    assert receiver.received == {"report": 4, "reply": 1}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("1,2,3", "malformed string"),
        ('{"results": [', "malformed JSON"),
        ("<results><item>", "malformed XML"),
        (
            '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            "<results><item><msgid>&x;</msgid></item></results>",
            "hostile",
        ),
        (
            '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            "<results><item><status>&b;</status></item></results>",
            "hostile",
        ),
    ],
)
async def test_malformed_and_hostile_pushes_get_400_and_nothing_stored(
    data: str, reason: str
) -> None:
    """Each bad push: 400 naming the problem; the handler never sees a record."""
    receiver, reports, _ = make()
    async with client(receiver) as http:
        r = await http.post("/reports", data={"data": data})
    assert r.status_code == 400
    assert reason in r.text
    assert reports == []


async def test_refusals() -> None:
    """Oversized body 413, GET 405, unknown path 404, no data 400, bad bytes 400."""
    receiver, reports, _ = make(max_body=100)
    async with client(receiver) as http:
        assert (await http.post("/reports", data={"data": "x" * 200})).status_code == 413
        assert (await http.get("/reports")).status_code == 405
        assert (await http.post("/nope", data={"data": GOOD})).status_code == 404
        assert (await http.post("/reports", data={"other": "1"})).status_code == 400
        assert (await http.post("/reports", content=b"data=\xff\xfe")).status_code == 400
    assert reports == []
    assert receiver.refused == 3  # 413 and both 400s; 404 and 405 are not pushes


async def test_token_and_allow_list() -> None:
    """A secret path token; a source allow-list (the nodes' IPs by default)."""
    receiver, _, _ = make(token="s3cr3t", allowed_ips=["127.0.0.1"])
    async with client(receiver) as http:
        assert (await http.post("/reports", data={"data": GOOD})).status_code == 404
        assert (await http.post("/s3cr3t/reports", data={"data": GOOD})).text == "success"
    strict, _, _ = make(allowed_ips=True)
    assert strict.allowed == DEFAULT_ALLOWED_IPS
    async with client(strict) as http:
        assert (await http.post("/reports", data={"data": GOOD})).status_code == 403
    with pytest.raises(ValueError, match="on_reports"):
        WebhookReceiver()


async def test_handler_failure_answers_retry() -> None:
    """When the handler raises, the answer is not success, so the platform pushes again."""
    calls = 0

    async def flaky(batch: list[DeliveryReport]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")

    receiver = WebhookReceiver(on_reports=flaky)
    async with client(receiver) as http:
        assert (await http.post("/reports", data={"data": GOOD})).status_code == 500
        assert (await http.post("/reports", data={"data": GOOD})).text == "success"


@pytest.mark.parametrize("fmt", list(PushFormat))
async def test_end_to_end_every_report_once_with_receiver_down_for_a_while(fmt: PushFormat) -> None:
    """Simulator pushes to a real receiver on loopback, which is down at first: all reports land
    once per (msgid, mobile) in the store the handler writes."""
    stored: dict[tuple[str, str], str] = {}
    deliveries = 0

    async def store(batch: list[DeliveryReport]) -> None:
        nonlocal deliveries
        deliveries += 1
        for report in batch:
            stored.setdefault((report.msgid, report.mobile), report.status)

    receiver = WebhookReceiver(on_reports=store, push_format=fmt)
    async with serve(receiver) as url:
        account = AccountConfig(
            username="mlrt",
            password=PASSWORD,
            apikey=APIKEY,
            report_push_url=url + "/reports",
            push_format=fmt,
        )
        settings = PlatformSettings(report_delay=(0.01, 0.05))
        async with (
            run_simulator([account], nodes=1, settings=settings) as sim,
            httpx.AsyncClient(base_url=sim.base_urls[0]) as http,
        ):
            assert sim.pusher is not None
            sim.pusher.backoff = 0.05
            # The receiver is "down": its URL points at a closed port until we restore it.
            sim.platform.account("mlrt").report_push_url = "http://127.0.0.1:9/reports"
            numbers = [f"138{i:08d}" for i in range(250)]
            r = await http.post(
                "/api/send/index.php", data=form(mobile=",".join(numbers), content="x")
            )
            assert r.text.startswith("success:")
            await anyio.sleep(0.3)
            assert sim.pusher.failures > 0
            sim.platform.account("mlrt").report_push_url = url + "/reports"
            await wait_for(lambda: len(stored) == 250)
            await anyio.sleep(0.2)
    assert sorted(m for _, m in stored) == numbers
    assert receiver.received["report"] == 250  # exactly once each: no duplicates pushed
    assert format_report_push([("1", "13800000000", "DELIVRD", 1)], fmt)
