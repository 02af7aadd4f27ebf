"""Property: whatever sequence of pushes arrives, stored + quarantined = received.

Pushes mix good and bad records in every format, payloads that are no push at all, and exact
retries of earlier pushes. Counted in the journal: records in the report history, records held in
the quarantine, and whole payloads held; a retry counts nothing twice.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from m5c_async.journal import Journal
from m5c_async.protocol import PushFormat, format_report_push
from m5c_async.webhook import WebhookReceiver

TOKEN = "property-test-token-01"
GARBAGE = st.sampled_from(["hello", "{x", "<a", "[1]", "   ", "<results><item>", "no record"])
RECORDS = st.lists(st.booleans(), min_size=1, max_size=8)  # True: a good record
PUSH = st.one_of(
    st.tuples(st.just("records"), RECORDS, st.sampled_from(list(PushFormat))),
    st.tuples(st.just("garbage"), GARBAGE, st.none()),
    st.tuples(st.just("retry"), st.integers(0, 20), st.none()),
)


def _payloads(pushes: list[tuple[str, object, object]]) -> list[tuple[str, int, int]]:
    """(payload, good records, bad records) per push, in order, retries resolved."""
    out: list[tuple[str, int, int]] = []
    serial = 0
    for kind, what, fmt in pushes:
        if kind == "retry":
            if out:
                out.append(out[int(str(what)) % len(out)])
            continue
        if kind == "garbage":
            out.append((str(what), 0, 0))
            continue
        assert isinstance(what, list) and isinstance(fmt, PushFormat)
        rows = []
        for good in what:
            serial += 1
            msgid = str(serial) if good else f"bad{serial}"
            rows.append((msgid, "13800000000", "DELIVRD", 1462880473))
        out.append((format_report_push(rows, fmt), sum(what), len(what) - sum(what)))
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(PUSH, min_size=1, max_size=12))
async def test_stored_plus_quarantined_equals_received(
    pushes: list[tuple[str, object, object]],
) -> None:
    """Every record is in the history or the quarantine, once; every unreadable payload is held."""
    payloads = _payloads(pushes)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "p.db"
        async with Journal(db) as journal:
            receiver = WebhookReceiver(sink=journal, token=TOKEN)
            transport = httpx.ASGITransport(app=receiver)
            async with httpx.AsyncClient(transport=transport, base_url="http://h") as http:
                for payload, _, _ in payloads:
                    answer = await http.post(f"/{TOKEN}/reports", data={"data": payload})
                    assert answer.text == "success", answer.text
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM report_log").fetchone()[0]
            held = conn.execute(
                "SELECT COALESCE(SUM(records), 0) FROM quarantine WHERE records > 0"
            ).fetchone()[0]
            whole = conn.execute("SELECT COUNT(*) FROM quarantine WHERE records = 0").fetchone()[0]
    distinct = dict.fromkeys(payloads)  # a retry is the same payload again
    assert stored == sum(good for _, good, _ in distinct)
    assert held == sum(bad for _, _, bad in distinct)
    assert whole == sum(1 for p, good, bad in distinct if good + bad == 0)
    assert stored + held == sum(good + bad for _, good, bad in distinct)
