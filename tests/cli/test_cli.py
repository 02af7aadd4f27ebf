"""The m5c command end to end against the simulator over real sockets: JSON shapes, exit codes,
and no secret in any output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from m5c_async import md5_hex
from m5c_async.journal._store import QUARANTINE_ROW_BYTES
from m5c_async.simulator import free_port
from tests.threaded import threaded_node

USER, PASSWORD, APIKEY = "clitest", "cli-secret-pass", "fedcba9876543210fedcba9876543210"
SECRETS = (PASSWORD, md5_hex(PASSWORD), APIKEY)


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    """A two-node simulator process for the module, on a block of ports it picks and holds."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "m5c_async",
            "sim",
            "--port",
            "0",
            "--nodes",
            "2",
            "--account",
            f"{USER}:{PASSWORD}:{APIKEY}",
            "--report-delay",
            "0.01",
            "0.02",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert "ready" in ready
        try:
            yield ready.split("qingdao=", 1)[1].split()[0]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def m5c(
    *args: str, base: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("M5C_")}
    if base is not None:
        environment.update(
            M5C_USERNAME=USER, M5C_PASSWORD=PASSWORD, M5C_APIKEY=APIKEY, M5C_BASE_URL=base
        )
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "m5c_async", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr, f"secret leaked by {args}"
    return done


def test_send_balance_records_json(sim: str) -> None:
    """send, balance and records with --json print one JSON document each."""
    sent = m5c(
        "send",
        "--mobile",
        "13800138000,13900139000",
        "--content",
        "验证码 1234【测试】",
        "--json",
        base=sim,
    )
    assert sent.returncode == 0, sent.stderr
    receipt = json.loads(sent.stdout)
    assert len(receipt["msgid"]) == 14
    assert receipt["accepted"] == ["13800138000", "13900139000"]
    for fmt in ("json", "xml", "soap"):
        assert (
            m5c(
                "send",
                "--mobile",
                "13700137000",
                "--content",
                "x",
                "--format",
                fmt,
                "--json",
                base=sim,
            ).returncode
            == 0
        )
    balance = json.loads(m5c("balance", "--json", base=sim).stdout)
    assert int(balance["total"]) - int(balance["remaining"]) == 5
    records = json.loads(m5c("records", "--json", base=sim).stdout)
    assert len(records) == 4
    assert records[0]["content"] == "验证码 1234【测试】"
    human = m5c("balance", base=sim)
    assert human.stdout.strip().endswith("/10000000")


def test_blacklist_reports_and_billing(sim: str, tmp_path: Path) -> None:
    """The other endpoints answer in JSON; a consuming pull needs somewhere to store first."""
    check = json.loads(m5c("blacklist", "check", "18600000001", "--json", base=sim).stdout)
    assert check["listed"] is False
    removed = m5c("blacklist", "remove", "18600000001", "--json", base=sim)
    assert removed.returncode == 5
    assert "Non black number" in removed.stderr
    refused = m5c("reports", "--json", base=sim)
    assert refused.returncode == 2
    assert "--journal" in refused.stderr
    out = tmp_path / "pulled.jsonl"
    assert isinstance(
        json.loads(m5c("reports", "--json", "--out", str(out), base=sim).stdout), list
    )
    billing = json.loads(m5c("billing", "--json", base=sim).stdout)
    assert billing[0]["username"] == USER


def test_exit_codes(sim: str, tmp_path: Path) -> None:
    """Usage 2, account 3, transport 4; one line on stderr."""
    missing = m5c("balance")
    assert missing.returncode == 2
    assert "credentials missing" in missing.stderr
    bad = m5c("send", "--mobile", "123", "--content", "x", base=sim)
    assert bad.returncode == 2
    wrong = m5c("balance", base=sim, env={"M5C_APIKEY": "0" * 32})
    assert wrong.returncode == 3
    assert wrong.stderr.count("\n") == 1
    dead = m5c("balance", base=f"http://127.0.0.1:{free_port()}")
    assert dead.returncode == 4
    assert m5c("campaign", "status", "--journal", str(tmp_path / "none.db")).returncode == 2
    for margin in ("0.5", "-0.1", "lots"):
        refused = m5c("campaign", "run", "--content", "x", "--numbers", "n.txt", "--margin", margin)
        assert refused.returncode == 2
        assert "--margin: a share of the rate in [0, 0.5)" in refused.stderr


def test_campaign_run_paces_below_the_cap_by_the_margin(sim: str, tmp_path: Path) -> None:
    numbers = tmp_path / "n.txt"
    numbers.write_text("\n".join(f"135{i:08d}" for i in range(20)) + "\n")
    run = m5c(
        "campaign", "run", "--content", "hi【签名】", "--numbers", str(numbers),
        "--margin", "0.25", "--json", base=sim,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["accepted"] == 20
    assert summary["pacing_rate"] == pytest.approx(600 * 0.75)


def test_campaign_run_status_with_journal(sim: str, tmp_path: Path) -> None:
    """A journaled campaign from a file, its status, and a dry run that sends nothing."""
    numbers = tmp_path / "n.txt"
    numbers.write_text("\n".join(f"135{i:08d}" for i in range(60)) + "\nbad\n")
    journal = tmp_path / "c.db"
    dry = m5c(
        "campaign",
        "run",
        "--content",
        "hi",
        "--numbers",
        str(numbers),
        "--dry-run",
        "--json",
        base=sim,
    )
    assert json.loads(dry.stdout)["messages"] == 60
    run = m5c(
        "campaign", "run", "--profile", "notification", "--content", "hi【签名】",
        "--numbers", str(numbers), "--journal", str(journal), "--packet-size", "10", "--json",
        base=sim,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["accepted"] == 60
    status = json.loads(m5c("campaign", "status", "--journal", str(journal), "--json").stdout)
    assert {"accepted", "delivered", "undelivered", "pending"} <= status.keys()
    assert (status["accepted"], status["pending"], status["rejected"]) == (60, 0, 1)


def test_dry_run_reports_the_intakes_reasons_and_lines(sim: str, tmp_path: Path) -> None:
    """campaign run --dry-run: split lines counted, refused numbers named with their lines."""
    numbers = tmp_path / "n.txt"
    numbers.write_text("13500000100,13500000101,13500000102\n+1 (917) 555-0123\n3800138000\n")
    dry = m5c(
        "campaign", "run", "--content", "hi【签名】", "--numbers", str(numbers), "--dry-run",
        "--json", base=sim,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["messages"] == 3
    assert report["split_lines"] == 1
    assert report["rejected"] == {"looks-mainland": 1, "not-mainland-mobile": 1}
    assert [(r["number"], r["reason"], r["line"]) for r in report["first_rejected"]] == [
        ("+1 (917) 555-0123", "looks-mainland", 2),
        ("3800138000", "not-mainland-mobile", 3),
    ]


def test_batch_from_a_csv_lists_refused_rows(sim: str, tmp_path: Path) -> None:
    """m5c batch reads the CSV through the intake: good rows sent, bad rows in the receipt."""
    rows = tmp_path / "rows.csv"
    rows.write_text("mobile,content\n13500000200,你好【签名】\n28123456,hi\n", encoding="utf-8")
    done = m5c("batch", str(rows), "--json", base=sim)
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert receipt["accepted"] == ["13500000200"]
    assert [(r["number"], r["reason"], r["line"]) for r in receipt["rejected"]] == [
        ("28123456", "not-mainland-mobile", 3)
    ]


TOKEN = "t0ken-for-the-cli-test"


def test_webhook_serve_prints_json_lines() -> None:
    """m5c webhook serve --json prints each received record as one JSON object per line."""
    import httpx

    port = free_port()
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "m5c_async",
            "webhook",
            "serve",
            "--port",
            str(port),
            "--json",
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            assert proc.stdout is not None
            assert "ready" in proc.stderr.readline()
            base = f"http://127.0.0.1:{port}"
            data = (
                "12345678901234,13800138000,DELIVRD,1462880473;"
                "12345678901234,13900139000,UNDELIV,1462880474"
            )
            deadline = time.monotonic() + 10
            while True:
                try:
                    answer = httpx.post(f"{base}/{TOKEN}/reports", data={"data": data})
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert answer.text == "success"
            assert httpx.post(f"{base}/reports", data={"data": data}).status_code == 404
            odd = httpx.post(f"{base}/{TOKEN}/reports", data={"data": "1,2"})
            assert odd.text == "success"
            lines = [json.loads(proc.stdout.readline()) for _ in range(3)]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert [(x["kind"], x["mobile"], x["status"]) for x in lines[:2]] == [
        ("report", "13800138000", "DELIVRD"),
        ("report", "13900139000", "UNDELIV"),
    ]
    assert (lines[2]["kind"], lines[2]["raw"]) == ("quarantine", "1,2")


def test_webhook_serve_keeps_answering_while_its_stdout_is_not_read() -> None:
    """Without a journal the records go to stdout; a reader that stops reading (a full pipe)
    holds the push being written, not the receiver: another request is answered meanwhile, and
    the held push completes once the reader reads again."""
    import threading

    import httpx

    port = free_port()
    record = "12345678901234,13800138000,DELIVRD,1462880473"
    data = ";".join([record] * 200)  # about 20 KB of JSON lines a push
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async", "webhook", "serve", "--port", str(port), "--json",
         "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        try:
            assert proc.stderr is not None and proc.stdout is not None
            assert b"ready" in proc.stderr.readline()
            base = f"http://127.0.0.1:{port}/{TOKEN}/reports"
            held: list[httpx.Response] = []

            def push() -> None:
                held.append(httpx.post(base, data={"data": data}, timeout=60))

            # Push until one is held by the full pipe (nobody reads stdout yet).
            for _ in range(40):
                pusher = threading.Thread(target=push, daemon=True)
                pusher.start()
                pusher.join(timeout=3)
                if pusher.is_alive():
                    break
                assert held[-1].text == "success"
            else:
                raise AssertionError("stdout never filled")
            # The receiver still answers (before: its event loop sat in the blocked write).
            other = httpx.post(f"http://127.0.0.1:{port}/reports", data={"data": data}, timeout=5)
            assert other.status_code == 404
            # Reading stdout lets the held push finish.
            drain = threading.Thread(target=proc.stdout.read, daemon=True)
            drain.start()
            pusher.join(timeout=30)
            assert not pusher.is_alive()
            assert held[-1].status_code in (200, 500)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_sim_json_lines() -> None:
    """m5c sim --json prints its start-up lines as JSON objects."""
    port = free_port(count=1)
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async", "sim", "--port", str(port), "--nodes", "1", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            demo = json.loads(proc.stdout.readline())
            ready = json.loads(proc.stdout.readline())
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert demo["event"] == "demo-account"
    assert ready == {
        "event": "ready",
        "nodes": {"qingdao": f"http://127.0.0.1:{port}"},
        "limiter": "sliding",
    }


def test_replies_are_stored_before_they_are_printed(sim: str, tmp_path: Path) -> None:
    """A reply holding rich markup is stored, then printed as it is; --json prints raw values;
    the quarantine commands list and re-read a journal's held entries."""
    import httpx

    for text in ("[/bold] 好", "[red]x", "\x1b[2J\x1b]0;owned\x07!"):
        injected = httpx.post(
            f"{sim}/_sim/reply", json={"username": USER, "mobile": "13800000000", "content": text}
        )
        assert injected.status_code == 200
    journal = tmp_path / "pulled.db"
    human = m5c("replies", "--journal", str(journal), base=sim, env={"COLUMNS": "300"})
    assert human.returncode == 0, human.stderr
    assert "[/bold] 好" in human.stdout and "[red]x" in human.stdout
    # A terminal escape in a reply is printed as text, never sent to the terminal.
    assert "\x1b" not in human.stdout and "\\x1b[2J\\x1b]0;owned\\x07!" in human.stdout
    with sqlite3.connect(journal) as conn:
        stored = sorted(r[0] for r in conn.execute("SELECT content FROM reply_log"))
    assert stored == ["\x1b[2J\x1b]0;owned\x07!", "[/bold] 好", "[red]x"]
    listed = m5c("quarantine", "list", "--journal", str(journal), "--json")
    assert (listed.returncode, listed.stdout) == (0, "")

    async def hold() -> None:
        from m5c_async.journal import Journal
        from m5c_async.protocol import read_report_push

        async with Journal(journal) as j:
            await j.store_push(read_report_push("1,13800000000,[bold]X,14628"), peer="1.2.3.4")

    anyio.run(hold)
    [entry] = [
        json.loads(x)
        for x in m5c("quarantine", "list", "--journal", str(journal), "--json").stdout.splitlines()
    ]
    assert (entry["raw"], entry["peer"], entry["records"]) == (
        "1,13800000000,[bold]X,14628",
        "1.2.3.4",
        1,
    )
    table = m5c("quarantine", "list", "--journal", str(journal))
    assert "[bold]X" in table.stdout
    again = m5c("quarantine", "reparse", "--journal", str(journal), "--json")
    assert json.loads(again.stdout) == {"resolved": 0, "stored": 0, "still_held": 1}


def test_a_pulled_reply_cannot_write_escape_sequences_to_the_terminal(
    sim: str, tmp_path: Path
) -> None:
    """A reply's text is anybody's: printed in the table of ``m5c replies`` (rich strips only
    BEL, BS, VT, FF and CR), an OSC retitling the window or a screen clear is shown as text."""
    import httpx

    text = "\x1b]0;owned\x1b\\ \x1b[2J好"
    injected = httpx.post(
        f"{sim}/_sim/reply", json={"username": USER, "mobile": "13800000009", "content": text}
    )
    assert injected.status_code == 200
    journal = tmp_path / "esc.db"
    human = m5c("replies", "--journal", str(journal), base=sim)
    assert human.returncode == 0, human.stderr
    assert "\x1b" not in human.stdout and "\x9b" not in human.stdout
    assert "\\x1b[2J好" in human.stdout
    with sqlite3.connect(journal) as conn:
        assert conn.execute("SELECT content FROM reply_log").fetchall() == [(text,)]


def test_quarantine_drop_and_a_terminal_safe_listing(tmp_path: Path) -> None:
    """``drop --id``/``--resolved`` free room (usage errors named); ``list`` writes a pushed
    escape sequence as text, never to the terminal; the size is shown."""
    journal = tmp_path / "q.db"

    async def hold() -> None:
        from m5c_async.journal import Journal
        from m5c_async.protocol import read_report_push

        async with Journal(journal) as j:
            await j.store_push(read_report_push("\x1b[2J\x07\x1b[31mX,1"), peer="1.2.3.4")
            await j.store_push(read_report_push("kept,1"), peer="1.2.3.4")

    anyio.run(hold)
    table = m5c("quarantine", "list", "--journal", str(journal))
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert "\\x1b[2J\\x07\\x1b[31mX,1" in table.stdout
    # Raw text, the reasons ("a report has 4 fields, not 2", 28 bytes each) and the rows.
    kept = 6 + 28 + QUARANTINE_ROW_BYTES
    assert f"takes {13 + 28 + QUARANTINE_ROW_BYTES + kept} bytes of the journal" in table.stdout
    for bad in (["list", "--id", "1"], ["drop"], ["reparse", "--resolved"]):
        refused = m5c("quarantine", *bad, "--journal", str(journal))
        assert refused.returncode == 2 and "drop" in refused.stderr, bad
    dropped = m5c("quarantine", "drop", "--id", "1", "--id", "99", "--journal", str(journal))
    assert (dropped.returncode, dropped.stdout) == (
        0,
        f"dropped 1 entries; the quarantine takes {kept} bytes\n",
    )
    left = m5c("quarantine", "list", "--journal", str(journal), "--json")
    assert [json.loads(x)["raw"] for x in left.stdout.splitlines()] == ["kept,1"]
    none = m5c("quarantine", "drop", "--resolved", "--journal", str(journal), "--json")
    assert json.loads(none.stdout) == {"dropped": 0, "size": kept}
    negative = m5c("webhook", "serve", "--insecure", "--journal", str(journal),
                   "--quarantine-limit", "-1")  # fmt: skip
    assert negative.returncode == 2 and "--quarantine-limit" in negative.stderr


def test_webhook_serve_into_a_journal(tmp_path: Path) -> None:
    """--journal: the document's §7 string example stored and quarantined there; the allow-list
    is off on loopback and on (the nodes) elsewhere unless told otherwise."""
    import argparse

    import httpx

    from m5c_async.cli._inbound import _allowed
    from tests import doc_pushes

    assert _allowed(argparse.Namespace(host="127.0.0.1", allow_ip=[], no_allow_list=False)) is None
    assert _allowed(argparse.Namespace(host="0.0.0.0", allow_ip=[], no_allow_list=False)) is True
    assert _allowed(
        argparse.Namespace(host="::", allow_ip=["10.0.0.0/8"], no_allow_list=False)
    ) == ["10.0.0.0/8"]
    assert _allowed(argparse.Namespace(host="0.0.0.0", allow_ip=[], no_allow_list=True)) is None
    journal = tmp_path / "hook.db"
    port = free_port()
    args = ["webhook", "serve", "--port", str(port), "--journal", str(journal)]
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "M5C_WEBHOOK_TOKEN": TOKEN},
    ) as proc:
        try:
            assert proc.stderr is not None
            ready = proc.stderr.readline()
            assert "/<token>/reports" in ready and "allow-list: off" in ready
            query = doc_pushes.REPORT_STRING_URL.split("?", 1)[1]
            answer = httpx.get(f"http://127.0.0.1:{port}/{TOKEN}/reports?{query}", timeout=10)
            assert answer.text == "success"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    with sqlite3.connect(journal) as conn:
        assert conn.execute("SELECT msgid FROM report_log").fetchall() == [("309111755558600",)]
        assert conn.execute("SELECT raw FROM quarantine").fetchall() == [
            ("309111755559999,13811299988,DELIVRD,456853877",)
        ]


def test_webhook_serve_stops_on_ctrl_c_within_two_seconds(tmp_path: Path) -> None:
    """SIGINT with a push stuck mid-body: the server is gone within two seconds."""
    import signal
    import socket

    port = free_port()
    args = ["webhook", "serve", "--port", str(port), "--journal", str(tmp_path / "c.db")]
    with subprocess.Popen(
        [sys.executable, "-m", "m5c_async", *args, "--token", TOKEN],
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            assert "ready" in proc.stderr.readline()
            deadline = time.monotonic() + 10
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            with sock:
                head = f"POST /{TOKEN}/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n\r\n"
                sock.sendall(head.encode() + b"da")
                began = time.monotonic()
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=10)
                assert time.monotonic() - began < 2.0
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture
def garbled_pull() -> Iterator[str]:
    """A loopback node (not ours: a bare socket server) that answers every request with a pull
    reply holding two good records around one the parser cannot read."""
    body = (
        b"1,13800000000,DELIVRD,2016-05-10 22:51:22;garbled-record;"
        b"2,13800000001,UNDELIV,2016-05-10 22:51:23"
    )
    with threaded_node(lambda _: (200, body)) as base:
        yield base


def test_a_pulled_record_that_does_not_parse_is_kept(garbled_pull: str, tmp_path: Path) -> None:
    """A one-shot pull consumes on the platform: the good records are stored and printed, the
    garbled one is kept with its raw text (journal quarantine or a file line), exit 9."""
    journal = tmp_path / "pull.db"
    done = m5c("reports", "--journal", str(journal), "--json", base=garbled_pull)
    assert done.returncode == 9, done.stderr
    assert [r["mobile"] for r in json.loads(done.stdout)] == ["13800000000", "13800000001"]
    assert "quarantined a pulled report record" in done.stderr
    with sqlite3.connect(journal) as conn:
        assert conn.execute("SELECT COUNT(*), MIN(via) FROM report_log").fetchone() == (2, "pull")
        assert conn.execute("SELECT raw, via FROM quarantine").fetchall() == [
            ("garbled-record", "pull")
        ]
    listed = m5c("quarantine", "list", "--journal", str(journal), "--json")
    assert json.loads(listed.stdout.splitlines()[0])["raw"] == "garbled-record"
    out = tmp_path / "pull.jsonl"
    again = m5c("reports", "--out", str(out), "--json", base=garbled_pull)
    assert again.returncode == 9, again.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["report", "report", "quarantine"]
    assert lines[2]["raw"] == "garbled-record"
