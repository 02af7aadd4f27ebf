"""`format` is a URL parameter (§3.2, §3.3, §3.5): where the client puts it, where the simulator
reads it, and what a platform that reads it from one place only answers."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from m5c_async import Credentials
from m5c_async.protocol import BatchItem, build_send, build_send_batch
from m5c_async.simulator import AccountConfig, NodeApp, Platform, PlatformSettings
from tests.conftest import APIKEY, PASSWORD, WALL_OFFSET, FakeClock

SEND = "/api/send/index.php"
BATCH = "/api/send/sms_batch.php"


def _platform(format_from: str) -> Platform:
    clock = FakeClock()
    return Platform(
        [AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)],
        settings=PlatformSettings(reports=False, format_from=format_from),
        clock=clock,
        wall=lambda: WALL_OFFSET + clock.now,
    )


# (builder, method) -> the expected query of the request spec
@pytest.mark.parametrize(
    ("fmt", "method", "query"),
    [
        ("form", "POST", {}),
        ("json", "POST", {"format": "json"}),
        ("xml", "POST", {"format": "xml"}),
        ("soap", "POST", {}),
    ],
)
def test_client_puts_format_in_the_query(
    creds: Credentials, fmt: str, method: str, query: dict[str, str]
) -> None:
    """A POST carries `format` in the query (and in the body); credentials stay in the body."""
    spec = build_send(creds, ["13800000000"], "hi", format=fmt, method=method)
    assert dict(spec.query) == query
    if query:
        body = dict(parse_qsl((spec.body or b"").decode()))
        assert body["format"] == query["format"]
        assert creds.password_md5 not in str(spec.query) and APIKEY not in str(spec.query)


async def test_batch_puts_format_in_the_query(creds: Credentials) -> None:
    """sms_batch.php?format=xml, as §2.3 writes it, accepted by a query-only platform."""
    spec = build_send_batch(creds, [BatchItem(mobiles=("13800000000",), content="x")])
    assert dict(spec.query) == {"format": "xml"}
    transport = httpx.ASGITransport(app=NodeApp(_platform("query"), "qingdao"))
    async with httpx.AsyncClient(transport=transport, base_url="http://qingdao") as http:
        response = await http.post(
            spec.path + "?" + urlencode(spec.query),
            content=spec.body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.text.startswith("success:")


def _split(fields: dict[str, str], where: str) -> tuple[dict[str, str], dict[str, str]]:
    """Place `format` in the query, the body or both; everything else in the body."""
    body = {k: v for k, v in fields.items() if k != "format" or where in ("body", "both")}
    query = {"format": fields["format"]} if where in ("query", "both") else {}
    return query, body


# (platform reads format from, the request puts it in, the reply starts with)
PLACEMENT_TABLE = [
    ("either", "query", "success:"),
    ("either", "body", "success:"),
    ("either", "both", "success:"),
    ("query", "query", "success:"),
    ("query", "both", "success:"),
    ("query", "body", "error:Missing username"),
    ("body", "body", "success:"),
    ("body", "both", "success:"),
    ("body", "query", "error:Missing username"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("reads", "where", "reply"), PLACEMENT_TABLE)
async def test_simulator_reads_format_where_configured(
    creds: Credentials, fmt: str, reads: str, where: str, reply: str
) -> None:
    """The simulator takes `format` from either place by default; a strict reading is a knob."""
    spec = build_send(creds, ["13800000000"], "hi", format=fmt)
    fields = dict(parse_qsl((spec.body or b"").decode(), keep_blank_values=True))
    query, body = _split(fields, where)
    platform = _platform(reads)
    transport = httpx.ASGITransport(app=NodeApp(platform, "qingdao"))
    async with httpx.AsyncClient(transport=transport, base_url="http://qingdao") as http:
        response = await http.post(
            spec.path + ("?" + urlencode(query) if query else ""),
            content=urlencode(body).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.text.startswith(reply)
