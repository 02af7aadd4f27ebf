"""``m5c webhook serve`` attacked as an outsider would, as a real process on loopback.

Each test starts the receiver (and, where it takes one, another process that holds the journal)
and waits on conditions with deadlines, never on sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from m5c_async.journal import Journal
from m5c_async.protocol import PushBatch
from m5c_async.simulator import free_port
from m5c_async.webhook import WebhookReceiver
from tests.cli.test_cli import m5c
from tests.threaded import Received, threaded_node
from tests.webhook.test_e2e import served

TOKEN = "outsider-token-0123456789"
REPORT = "{msgid},13800000000,DELIVRD,1462880473"

# Another process that takes the journal's write lock and holds it until told (a line on stdin).
LOCKER = """
import sqlite3, sys
if len(sys.argv) > 2:
    sys.stdin.readline()
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _until(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.02)


@contextmanager
def webhook(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``m5c webhook serve`` on a free port; killed at the end if still running."""
    port = free_port()
    args = ("--token", TOKEN, *args)
    proc = subprocess.Popen(
        [sys.executable, "-m", "m5c_async", "webhook", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _until(lambda: proc.poll() is not None or _listening(port), 20, "the receiver listens")
        assert proc.poll() is None, proc.communicate()
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _push(port: int, msgid: int, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/{TOKEN}/reports",
        data={"data": REPORT.format(msgid=msgid)},
        timeout=timeout,
    )


def _msgids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {m for (m,) in conn.execute("SELECT msgid FROM report_log")}


def test_a_journal_locked_by_another_process_answers_retry_and_the_receiver_recovers(
    tmp_path: Path,
) -> None:
    """While another process holds the journal's lock a push is answered 500 ``retry`` (not
    left hanging, never ``success``); once the lock is gone the same receiver stores pushes
    again, and Ctrl-C still stops it."""
    db = tmp_path / "hook.db"
    with webhook("--journal", str(db)) as (proc, port):
        assert _push(port, 1).text == "success"
        with subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as locker:
            assert locker.stdout is not None and locker.stdin is not None
            try:
                assert locker.stdout.readline().strip() == "locked"
                refused = _push(port, 2, timeout=20)
                assert (refused.status_code, refused.text) == (500, "retry")
                locker.stdin.write("release\n")
                locker.stdin.flush()
                assert locker.stdout.readline().strip() == "released"
            finally:
                if locker.poll() is None:
                    locker.kill()
        # The platform pushes again: stored now, and a later push too.
        assert _push(port, 2).text == "success"
        assert _push(port, 3).text == "success"
        assert _msgids(db) == {"1", "2", "3"}
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        assert proc.returncode is not None


def test_success_is_never_answered_before_the_record_is_committed(tmp_path: Path) -> None:
    """Killed (SIGKILL) right after answering: every push answered ``success`` is in the file."""
    db = tmp_path / "hook.db"
    answered: list[str] = []
    with webhook("--journal", str(db)) as (proc, port):
        for msgid in range(10, 40):
            if _push(port, msgid).text == "success":
                answered.append(str(msgid))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert answered and set(answered) <= _msgids(db)


class _StalledSink:
    """A sink that never finishes storing (a disk that stopped answering)."""

    def __init__(self) -> None:
        self.calls = 0

    async def store_push(self, batch: PushBatch[Any], *, peer: str | None = None) -> None:
        self.calls += 1
        await anyio.Event().wait()


async def test_a_sink_that_never_returns_is_answered_retry_by_the_deadline() -> None:
    """No wait without a deadline: past ``store_timeout`` the answer is 500 ``retry``."""
    sink = _StalledSink()
    receiver = WebhookReceiver(sink=sink, token=TOKEN, store_timeout=0.3)
    async with served(receiver) as port, httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"http://127.0.0.1:{port}/{TOKEN}/reports", data={"data": REPORT.format(msgid=7)}
        )
    assert (answer.status_code, answer.text, sink.calls) == (500, "retry", 1)


def test_deeply_nested_xml_is_quarantined_not_answered_500_forever(tmp_path: Path) -> None:
    """XML nested deeper than Python's recursion limit (inside <results> and inside an <item>)
    is kept in the quarantine and answered ``success``; the platform is not made to retry
    a push that can never be read."""
    db = tmp_path / "hook.db"
    depth = 5000
    deep = "<a>" * depth + "x" + "</a>" * depth
    pushes = [
        f"<results>{deep}</results>",
        f"<results><item><msgid>{deep}</msgid></item></results>",
    ]
    with webhook("--journal", str(db)) as (_, port):
        for xml in pushes:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/{TOKEN}/reports", content=xml.encode(), timeout=30
            )
            assert (answer.status_code, answer.text) == (200, "success")
        assert _push(port, 8).text == "success"
    with sqlite3.connect(db) as conn:
        held = conn.execute("SELECT raw, reason FROM quarantine ORDER BY id").fetchall()
    assert [raw for raw, _ in held] == pushes
    assert all("nested" in reason for _, reason in held)
    assert _msgids(db) == {"8"}


@pytest.fixture
def pull_node() -> Iterator[tuple[str, list[bytes], list[Any]]]:
    """A loopback node (a bare socket server, not ours) answering every request with a pull of
    two reports; it keeps each request line, so a test sees whether a pull was made, and runs
    each callable of its third item before answering."""
    seen: list[bytes] = []
    before_answer: list[Any] = []
    body = b"1,13800000000,DELIVRD,2016-05-10 22:51:22;2,13800000001,UNDELIV,2016-05-10 22:51:23"

    def answer(request: Received) -> tuple[int, bytes]:
        seen.append(request.line)
        for hook in before_answer:
            hook()
        return 200, body

    with threaded_node(answer) as base:
        yield base, seen, before_answer


@pytest.mark.parametrize("option", ["--journal", "--out"])
def test_a_pull_whose_store_cannot_open_pulls_nothing(
    pull_node: tuple[str, list[bytes]], tmp_path: Path, option: str
) -> None:
    """A pull consumes on the platform: when the journal or file cannot be opened, nothing is
    pulled (the reports stay on the platform), and the error is named, not a traceback."""
    base, seen, _ = pull_node
    done = m5c("reports", option, str(tmp_path / "no-such-dir" / "pull.db"), base=base)
    assert done.returncode != 0
    assert done.stderr.startswith("m5c: ") and "Traceback" not in done.stderr
    assert seen == []


def test_pulled_reports_that_cannot_be_stored_are_printed_not_lost(
    pull_node: tuple[str, list[bytes], list[Any]], tmp_path: Path
) -> None:
    """The journal opened; while the node answers the pull, another process takes the journal's
    lock: the pulled reports (gone from the platform) are printed as JSON lines and the exit
    code says they were not stored."""
    base, seen, before_answer = pull_node
    db = tmp_path / "pull.db"
    with subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as locker:
        assert locker.stdout is not None and locker.stdin is not None
        # The locker waits for its go before touching the file (a line on stdin).
        before_answer.append(lambda: _go_and_wait(locker))
        try:
            done = m5c("reports", "--journal", str(db), base=base)
        finally:
            locker.kill()
    assert len(seen) == 1 and done.returncode != 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["msgid"], r["mobile"]) for r in printed] == [
        ("1", "13800000000"),
        ("2", "13800000001"),
    ]
    assert "not stored" in done.stderr


def _go_and_wait(locker: subprocess.Popen[str]) -> None:
    assert locker.stdin is not None and locker.stdout is not None
    locker.stdin.write("go\n")
    locker.stdin.flush()
    assert locker.stdout.readline().strip() == "locked"


# The receiver served by uvicorn at log level info, as the docs' example with its access log on.
ACCESS_LOGGED = """
import asyncio, sys, uvicorn
from m5c_async.webhook import WebhookReceiver, receiver_config

async def handled(items):
    pass

token = sys.argv[2] or None
receiver = WebhookReceiver(
    on_reports=handled, on_replies=handled, on_quarantine=handled, token=token,
    insecure=token is None,
)
config = receiver_config(receiver, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
try:
    asyncio.run(uvicorn.Server(config).serve())
except KeyboardInterrupt:
    pass
"""


@pytest.mark.parametrize("token", [TOKEN, ""], ids=["token", "insecure"])
def test_the_token_and_the_pushed_numbers_stay_out_of_the_access_log(token: str) -> None:
    """uvicorn's access log writes each request's path and query string: the path token (the
    receiver's only secret) and the pushed data (numbers, reply text) are redacted there, with
    a token or without one (``insecure``)."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-c", ACCESS_LOGGED, str(port), token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            _until(lambda: proc.poll() is not None or _listening(port), 20, "uvicorn listens")
            base = f"http://127.0.0.1:{port}" + (f"/{token}" if token else "")
            assert httpx.get(f"{base}/reports?data=" + REPORT.format(msgid=9)).text == "success"
            assert httpx.post(f"{base}/replies", data={"data": "1,2,13900000000,hi,"}).is_success
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
    log = out + err
    access = [line for line in log.splitlines() if '" 200' in line]
    assert len(access) == 2, log
    assert TOKEN not in log and "13800000000" not in log and "1462880473" not in log
    if token:
        assert all("/<token>/" in line for line in access), access
    assert any("/reports?…" in line for line in access), access


def test_multipart_nested_deep_is_quarantined_whole(tmp_path: Path) -> None:
    """multipart/form-data nested 3,000 deep made the standard library's MIME parser recurse
    past Python's limit (500, for the platform to retry forever): the request's body is kept
    in the quarantine and answered ``success``."""
    db = tmp_path / "hook.db"
    record = REPORT.format(msgid=11).encode()
    body = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(3000)
    )
    body += b'--b3000\r\nContent-Disposition: form-data; name="data"\r\n\r\n' + record + b"\r\n"
    with webhook("--journal", str(db)) as (_, port):
        answer = httpx.post(
            f"http://127.0.0.1:{port}/{TOKEN}/reports",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=b0"},
            timeout=30,
        )
        assert (answer.status_code, answer.text) == (200, "success")
    with sqlite3.connect(db) as conn:
        held = conn.execute("SELECT raw, reason, format, records FROM quarantine").fetchall()
    assert held == [(body.decode(), "nested multipart", None, 0)]


def test_ready_is_said_only_once_listening() -> None:
    """Scripts wait for the ready line: on a port already taken, it never comes and the
    command fails (it used to print ready, then fail to bind)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = m5c("webhook", "serve", "--port", str(port), "--token", TOKEN, "--no-metrics")
    assert done.returncode != 0 and "webhook ready" not in done.stderr, done.stderr


def test_allow_ip_with_no_allow_list_is_refused() -> None:
    """Contradicting options are a usage error, not an allow-list silently off."""
    done = m5c("webhook", "serve", "--token", TOKEN, "--allow-ip", "10.0.0.1", "--no-allow-list")
    assert done.returncode == 2 and "--no-allow-list" in done.stderr, done.stderr


async def test_outside_the_allow_list_a_wrong_token_and_the_right_one_get_the_same_answer(
    tmp_path: Path,
) -> None:
    """From a source the allow-list refuses, the answer does not say whether the token was
    right (404 for a wrong one and 403 for the right one told an outsider it had found it)."""
    async with Journal(tmp_path / "hook.db") as journal:
        receiver = WebhookReceiver(sink=journal, token=TOKEN, allowed_ips=["192.0.2.1"])
        async with served(receiver) as port, httpx.AsyncClient(timeout=10) as http:
            base = f"http://127.0.0.1:{port}"
            data = {"data": REPORT.format(msgid=12)}
            right = await http.post(f"{base}/{TOKEN}/reports", data=data)
            wrong = await http.post(f"{base}/{TOKEN[:-1]}x/reports", data=data)
            elsewhere = await http.get(f"{base}/robots.txt")
    answers = [(r.status_code, r.text) for r in (right, wrong, elsewhere)]
    assert answers == [(403, "forbidden")] * 3


def test_multipart_beyond_a_push_s_shape_is_kept_whole_without_the_mime_parser(
    tmp_path: Path,
) -> None:
    """A push has one part. A multipart body with 65 parts, a part header of 1 MB of parameters
    (the standard library's MIME parser spends half a minute of CPU on it), or a nested multipart
    is not handed to the MIME parser: it is quarantined whole, with its body, at once."""
    db = tmp_path / "hook.db"
    record = REPORT.format(msgid=13).encode()
    data_part = b'--x\r\nContent-Disposition: form-data; name="data"\r\n\r\n' + record + b"\r\n"
    many = b"".join(
        b'--x\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(64)
    )
    long_head = (
        b'--x\r\nContent-Disposition: form-data; name="data"; '
        + b"a=b; " * 200_000
        + b"\r\n\r\n"
        + record
        + b"\r\n"
    )
    nested = (
        b"--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n"
        + data_part.replace(b"--x", b"--y")
        + b"--y--\r\n"
    )
    bodies = [many + data_part + b"--x--\r\n", long_head + b"--x--\r\n", nested + b"--x--\r\n"]
    with webhook("--journal", str(db)) as (_, port):
        for body in bodies:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/{TOKEN}/reports",
                content=body,
                headers={"content-type": "multipart/form-data; boundary=x"},
                timeout=15,
            )
            assert (answer.status_code, answer.text) == (200, "success")
    with sqlite3.connect(db) as conn:
        held = conn.execute("SELECT raw, reason FROM quarantine ORDER BY id").fetchall()
    assert held == [
        (bodies[0].decode(), "multipart with more than 16 parts"),
        (bodies[1].decode(), "multipart part headers above 8192 bytes"),
        (bodies[2].decode(), "nested multipart"),
    ]
    assert _msgids(db) == set()
