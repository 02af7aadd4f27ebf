"""Spans from the engine against the simulator over loopback, collected by the OpenTelemetry
SDK's in-memory exporter: one per request under its campaign or submit span, and no number,
content or credential in any attribute."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from m5c_async import AsyncClient
from m5c_async.engine import Campaign, EngineConfig, SendEngine
from m5c_async.observability import TracingHooks
from m5c_async.simulator import AccountConfig, PlatformSettings, run_simulator
from tests.conftest import APIKEY, PASSWORD
from tests.engine.conftest import Rig, numbers

ACCOUNT = AccountConfig(username="mlrt", password=PASSWORD, apikey=APIKEY, rate=300)
CONTENT = "验证码【示例】"


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A tracer provider exporting to memory, synchronously."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _named(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def _no_secret_anywhere(finished: tuple[ReadableSpan, ...], sent: list[str]) -> None:
    forbidden = [PASSWORD, APIKEY, CONTENT, "示例", *sent]
    for span in finished:
        for key, value in (span.attributes or {}).items():
            text = str(value)
            for bad in forbidden:
                assert bad not in text, (span.name, key)


async def test_campaign_requests_nest_under_the_campaign_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """A throttled campaign of 60 single-number packets over real HTTP: one request span per
    request the platform saw, each under the campaign span, which is under the caller's span;
    accepted ones carry node and msgid, throttled ones an error status."""
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    settings = PlatformSettings(reports=False)
    async with (
        run_simulator([ACCOUNT], nodes=2, settings=settings) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
    ):
        await sim.set_faults("qingdao", throttle_ratio=0.2)
        engine = SendEngine(
            client,
            EngineConfig(packet_size=1, concurrency=10, rate=300),
            hooks=[TracingHooks(provider)],
        )
        with tracer.start_as_current_span("nightly job"):
            result = await engine.run_campaign(Campaign(numbers=numbers(60), content=CONTENT))
        platform_requests = sim.platform.stats.requests
    finished = exporter.get_finished_spans()
    (job,) = _named(finished, "nightly job")
    (campaign,) = _named(finished, "m5c campaign")
    requests = _named(finished, "m5c request")
    assert result.accepted == 60 and result.throttled > 0
    assert campaign.parent is not None and campaign.parent.span_id == job.context.span_id
    assert campaign.attributes is not None and campaign.attributes["m5c.accepted"] == 60
    assert len(requests) == platform_requests == 60 + result.throttled
    for span in requests:
        assert span.parent is not None and span.parent.span_id == campaign.context.span_id
        attrs = span.attributes or {}
        assert attrs["m5c.endpoint"] == "send" and attrs["m5c.numbers"] == 1
        assert attrs["m5c.node"] in sim.base_urls
    accepted = [s for s in requests if (s.attributes or {})["m5c.outcome"] == "accepted"]
    throttled = [s for s in requests if (s.attributes or {})["m5c.outcome"] == "throttled"]
    assert len(accepted) == 60 and len(throttled) == result.throttled
    assert all((s.attributes or {})["m5c.msgid"] for s in accepted)
    assert all(s.status.status_code is StatusCode.ERROR for s in throttled)
    assert all((s.attributes or {})["m5c.error"] == "ThrottledError" for s in throttled)
    assert {(s.attributes or {})["m5c.attempt"] for s in throttled} >= {1}
    _no_secret_anywhere(finished, numbers(60))


async def test_submit_requests_nest_under_submit_spans_under_the_caller(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """Concurrent submit() calls from two 'web requests': each packet's submit span is a child
    of the request that formed it, and its request span a child of the submit span."""
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    async with (
        run_simulator([ACCOUNT], nodes=1, settings=PlatformSettings(reports=False)) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
        SendEngine(client, EngineConfig(linger=0.001), hooks=[TracingHooks(provider)]) as engine,
    ):

        async def web_request(name: str, number: str) -> None:
            with tracer.start_as_current_span(name):
                await engine.submit(number, f"{CONTENT}{name[-1]}")

        async with anyio.create_task_group() as tg:
            tg.start_soon(web_request, "GET /a", "13800000001")
            tg.start_soon(web_request, "GET /b", "13800000002")
    finished = exporter.get_finished_spans()
    submits = _named(finished, "m5c submit")
    requests = _named(finished, "m5c request")
    assert len(submits) == 2 and len(requests) == 2
    callers = {s.context.span_id: s.name for s in finished if s.name.startswith("GET")}
    assert {callers[s.parent.span_id] for s in submits if s.parent} == {"GET /a", "GET /b"}
    submit_ids = {s.context.span_id for s in submits}
    assert {r.parent.span_id for r in requests if r.parent} == submit_ids
    assert all((s.attributes or {})["m5c.outcome"] == "accepted" for s in submits)
    _no_secret_anywhere(finished, ["13800000001", "13800000002"])


async def test_without_tracing_hooks_nothing_is_traced(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """An engine without TracingHooks makes no span, even with a provider installed."""
    provider, exporter = spans
    async with (
        run_simulator([ACCOUNT], nodes=1, settings=PlatformSettings(reports=False)) as sim,
        AsyncClient(
            username="mlrt", password=PASSWORD, apikey=APIKEY, nodes=sim.base_urls
        ) as client,
    ):
        engine = SendEngine(client, EngineConfig(packet_size=1), hooks=[])
        with provider.get_tracer("test").start_as_current_span("outer"):
            await engine.run_campaign(Campaign(numbers=numbers(5), content=CONTENT))
    assert [s.name for s in exporter.get_finished_spans()] == ["outer"]


async def test_a_stopped_campaign_ends_every_span_with_its_reason(
    rig: Rig, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """The balance runs out mid-campaign: the campaign span ends with an error status naming
    the error's class and its totals; nothing is left open in the hooks."""
    provider, exporter = spans
    hooks = TracingHooks(provider)
    rig.platform.account("mlrt").balance = 120
    engine = rig.make(hooks=[hooks], packet_size=20, concurrency=3)
    result = await engine.run_campaign(Campaign(numbers=numbers(400), content=CONTENT))
    assert result.stopped_by is not None and result.pending > 0
    finished = exporter.get_finished_spans()
    (campaign,) = _named(finished, "m5c campaign")
    assert campaign.status.status_code is StatusCode.ERROR
    assert campaign.status.description == type(result.stopped_by).__name__
    attrs = campaign.attributes or {}
    assert (attrs["m5c.accepted"], attrs["m5c.pending"]) == (result.accepted, result.pending)
    assert hooks._packets == {} and hooks._requests == {} and hooks._runs == {}
    assert len(_named(finished, "m5c request")) == engine.stats.requests
