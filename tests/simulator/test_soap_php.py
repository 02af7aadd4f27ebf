"""SOAP as PHP speaks it: PHP's SoapClient against the simulator, our client against SoapServer.

Both sides are implementations we did not write (Debian's php-cli + php-soap, which .ci/run
installs), so the envelope, the WSDL and the positional parameters are checked by PHP itself.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from m5c_async import AsyncClient, md5_hex
from m5c_async.simulator import AccountConfig, PlatformSettings, free_port, run_simulator
from tests.conftest import APIKEY, PASSWORD

PHP_DIR = Path(__file__).resolve().parent.parent / "php"
SOAP_PATH = "/api/send/sms_webservice.php"
CONTENT = "验证码：1A1C【签名】 & <b> 100% +1"


@functools.cache
def _php() -> tuple[str, ...]:
    """The php command with the soap extension loaded (named with -d when conf.d does not)."""
    php = shutil.which("php")
    assert php, "php-cli and php-soap are required: apt-get install php-cli php-soap"
    probe = "exit(extension_loaded('soap') ? 0 : 3);"
    for command in ((php,), (php, "-d", "extension=soap")):
        done = subprocess.run([*command, "-r", probe], capture_output=True, timeout=30)
        if done.returncode == 0:
            return command
    raise AssertionError("php has no soap extension: apt-get install php-soap")


async def _soap_client(mode: str, url: str, password: str, mobile: str) -> dict[str, str]:
    """Run tests/php/soap_client.php; return its JSON (the result and the request it sent)."""
    args = [*_php(), str(PHP_DIR / "soap_client.php"), mode, url, APIKEY, "mlrt", password]
    with anyio.fail_after(30):
        done = await anyio.run_process([*args, mobile, CONTENT], check=False)
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# (SoapClient mode, what $password holds, the reply expected)
PHP_CLIENT_TABLE = [
    ("wsdl", PASSWORD, "success:"),
    ("wsdl", md5_hex(PASSWORD), "success:"),
    ("nowsdl", PASSWORD, "success:"),
    ("nowsdl", md5_hex(PASSWORD), "success:"),
    ("wsdl", "wrong-password", "error:APIKEY or password error"),
    ("nowsdl", "wrong-password", "error:APIKEY or password error"),
]


async def test_php_soapclient_drives_the_simulator_in_both_modes() -> None:
    """The document's example, `new SoapClient($url)->sendsms(...)`, with and without a WSDL."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    settings = PlatformSettings(reports=False)
    async with run_simulator([account], nodes=1, settings=settings) as sim:
        url = sim.base_urls[0] + SOAP_PATH
        for i, (mode, password, expected) in enumerate(PHP_CLIENT_TABLE):
            mobile = f"1380013{i:04d}"
            out = await _soap_client(mode, url, password, mobile)
            assert out["result"].startswith(expected), (mode, password, out)
            # Without a WSDL, PHP names the parameters by position; with it, by the WSDL's parts.
            assert ("<param0" in out["request"]) is (mode == "nowsdl")
            if expected == "success:":
                entry = sim.platform.ledger[-1]
                assert (entry.mobiles, entry.content) == ((mobile,), CONTENT)
                assert entry.msgid == out["result"].removeprefix("success:")
        assert len(sim.platform.ledger) == 4


async def test_wsdl_address_is_absolute_and_follows_the_host() -> None:
    """soap:address is built from the request's Host, so SoapClient can parse it."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    async with run_simulator([account], nodes=1, settings=PlatformSettings(reports=False)) as sim:
        import httpx

        async with httpx.AsyncClient() as http:
            base = sim.base_urls[0]
            plain = await http.get(base + SOAP_PATH + "?wsdl")
            named = await http.get(base + SOAP_PATH + "?wsdl", headers={"Host": "m.5c.com.cn"})
        assert f'location="{base}{SOAP_PATH}"' in plain.text
        assert f'location="http://m.5c.com.cn{SOAP_PATH}"' in named.text


@pytest.fixture
def php_soap_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """PHP's SoapServer under `php -S` on a free loopback port; yields (base URL, call log)."""
    port = free_port()
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, "M5C_SOAP_LOG": str(log), "M5C_SOAP_MSGID": "13958008415478"}
    command = [*_php(), "-S", f"127.0.0.1:{port}", str(PHP_DIR / "soap_server.php")]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as proc:
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "php -S did not start"
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", log
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def test_client_soap_envelope_is_read_by_php_soapserver(
    php_soap_server: tuple[str, Path],
) -> None:
    """Our client's sendsms is understood by PHP's SoapServer, whose reply uses another
    namespace: every part arrives intact and the msgid is read from the reply."""
    base, log = php_soap_server
    async with AsyncClient(
        username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=[base]
    ) as client:
        receipt = await client.send(["13800138000", "13900139000"], CONTENT, format="soap")
    assert receipt.msgid == "13958008415478"
    call = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert call == {
        "apikey": APIKEY,
        "username": "mlrt",
        "password": md5_hex(PASSWORD),
        "mobile": "13800138000,13900139000",
        "content": CONTENT,
    }
