"""The FastAPI wiring of docs/observability.md, run as written (credentials, nodes and the
journal's path filled in) under uvicorn against the simulator: codes sent through submit(), their
reports pushed back to the app, all of it on the app's own /metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from m5c_async.simulator import (
    AccountConfig,
    EmbeddedServer,
    PlatformSettings,
    free_port,
    run_simulator,
)
from tests.conftest import APIKEY, PASSWORD
from tests.engine.conftest import numbers
from tests.simulator.test_serving import wait_for

DOC = Path(__file__).parents[2] / "docs" / "observability.md"


def _doc_example() -> str:
    text = DOC.read_text(encoding="utf-8").split("### In a FastAPI app", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def _total(text: str, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and want <= set(s.labels.items())
    )


async def test_the_documented_fastapi_app_counts_its_codes_and_their_reports(
    tmp_path: Path,
) -> None:
    """Ten codes through POST /codes/{mobile}: the app's /metrics (the default registry) and
    /sms/<token>/metrics both show ten more accepted and, once pushed, ten more reports with a
    delivery latency each."""
    account = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY)
    settings = PlatformSettings(report_delay=(0.01, 0.05), push_batch=5)
    async with run_simulator([account], nodes=1, settings=settings) as sim:
        code = _doc_example()
        filled = code.replace(
            'AsyncClient(username="...", password="...", apikey="...")',
            f"AsyncClient(username='mlrt', password={PASSWORD!r}, apikey={APIKEY!r},"
            f" nodes={sim.base_urls!r})",
        ).replace('Journal("sms.db"', f"Journal({str(tmp_path / 'sms.db')!r}")
        assert filled.count("mlrt") == 1 and str(tmp_path) in filled  # both were in the doc
        namespace: dict[str, Any] = {"__name__": "doc_example"}
        exec(compile(filled, str(DOC), "exec"), namespace)  # our own docs, run as written
        app, token = namespace["app"], namespace["token"]
        port = free_port()
        server = EmbeddedServer(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        base = f"http://127.0.0.1:{port}"
        sim.platform.account("mlrt").report_push_url = f"{base}/sms/{token}/reports"
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            await wait_for(lambda: server.started)
            try:
                async with httpx.AsyncClient(base_url=base, follow_redirects=True) as http:
                    before = (await http.get("/metrics")).text
                    for number in numbers(10):
                        sent = await http.post(f"/codes/{number}")
                        assert sent.status_code == 200 and re.fullmatch(
                            r"\d+", sent.json()["msgid"]
                        )

                    async def reports() -> float:
                        text = (await http.get(f"/sms/{token}/metrics")).text
                        return _total(text, "m5c_reports_received_total") - _total(
                            before, "m5c_reports_received_total"
                        )

                    pushed = 0.0
                    with anyio.fail_after(60):
                        while pushed < 10:
                            pushed = await reports()
                            await anyio.sleep(0.05)
                    after = (await http.get("/metrics")).text
            finally:
                server.should_exit = True

    def delta(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert delta("m5c_messages_submitted_total", profile="notification") == 10
    assert delta("m5c_messages_total", outcome="accepted") == 10
    assert delta("m5c_runs_ended_total") == 0  # the submit() service is still running
    assert pushed == 10
    # a report the platform pushes before the engine has recorded its send has no latency to
    # observe (docs/observability.md): at most one a report, and some under any load
    assert 0 < delta("m5c_delivery_latency_seconds_count") <= 10
    assert delta("m5c_journal_commit_seconds_count") > 0
    assert _total(after, "m5c_pacing_rate", profile="notification") > 0
