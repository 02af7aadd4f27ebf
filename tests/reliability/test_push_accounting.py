"""Property: whatever sequence of pushes arrives, stored + quarantined = received.

Pushes mix good and bad records in every format, payloads that are no push at all, and exact
retries of earlier pushes. Counted in the journal: records in the report history, records held in
the quarantine, and whole payloads held; a retry counts nothing twice.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m5c_async.journal import Journal
from m5c_async.protocol import PushFormat, format_reply_push, format_report_push
from m5c_async.webhook import WebhookReceiver

TOKEN = "property-test-token-01"
GARBAGE = st.sampled_from(["hello", "{x", "<a", "[1]", "   ", "<results><item>", "no record"])
RECORDS = st.lists(st.booleans(), min_size=1, max_size=8)  # True: a good record
PUSH = st.one_of(
    st.tuples(st.just("records"), RECORDS, st.sampled_from(list(PushFormat))),
    st.tuples(st.just("garbage"), GARBAGE, st.none()),
    st.tuples(st.just("retry"), st.integers(0, 20), st.none()),
)


def _payloads(pushes: list[tuple[str, object, object]], kind: str) -> list[tuple[str, int, int]]:
    """(payload, good records, bad records) per push, in order, retries resolved."""
    out: list[tuple[str, int, int]] = []
    serial = 0
    for step, what, fmt in pushes:
        if step == "retry":
            if out:
                out.append(out[int(str(what)) % len(out)])
            continue
        if step == "garbage":
            out.append((str(what), 0, 0))
            continue
        assert isinstance(what, list) and isinstance(fmt, PushFormat)
        rows: list[Any] = []
        for good in what:
            serial += 1
            key = str(serial) if good else f"bad{serial}"
            if kind == "reports":
                rows.append((key, "13800000000", "DELIVRD", 1462880473))
            else:  # replies: ids unique; a bad one has letters for a mobile
                mobile = "13800000000" if good else "138x"
                rows.append(("1", str(serial), mobile, f"好,{serial} 100%", 1462880473))
        text = format_report_push(rows, fmt) if kind == "reports" else format_reply_push(rows, fmt)
        out.append((text, sum(what), len(what) - sum(what)))
    return out


@pytest.mark.parametrize("kind", ["reports", "replies"])
@settings(max_examples=30, deadline=None)
@given(pushes=st.lists(PUSH, min_size=1, max_size=12))
async def test_stored_plus_quarantined_equals_received(
    kind: str, pushes: list[tuple[str, object, object]]
) -> None:
    """Every record is in the history or the quarantine, once; every unreadable payload is held."""
    payloads = _payloads(pushes, kind)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "p.db"
        async with Journal(db) as journal:
            receiver = WebhookReceiver(sink=journal, token=TOKEN)
            transport = httpx.ASGITransport(app=receiver)
            async with httpx.AsyncClient(transport=transport, base_url="http://h") as http:
                for payload, _, _ in payloads:
                    answer = await http.post(f"/{TOKEN}/{kind}", data={"data": payload})
                    assert answer.text == "success", answer.text
        with sqlite3.connect(db) as conn:
            log = "report_log" if kind == "reports" else "reply_log"
            stored = conn.execute(f"SELECT COUNT(*) FROM {log}").fetchone()[0]
            held = conn.execute(
                "SELECT COALESCE(SUM(records), 0) FROM quarantine WHERE records > 0"
            ).fetchone()[0]
            whole = conn.execute("SELECT COUNT(*) FROM quarantine WHERE records = 0").fetchone()[0]
    distinct = dict.fromkeys(payloads)  # a retry is the same payload again
    assert stored == sum(good for _, good, _ in distinct)
    assert held == sum(bad for _, _, bad in distinct)
    assert whole == sum(1 for p, good, bad in distinct if good + bad == 0)
    assert stored + held == sum(good + bad for _, good, bad in distinct)
