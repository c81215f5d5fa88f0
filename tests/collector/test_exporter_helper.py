"""The exporter helper's queue / retry / timeout chain, driven through a small
exporter whose ``push`` the test scripts (the real exporters are covered
against a real OTLP sink in test_exporters.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from otel_lite.collector.component import ComponentID, ConfigError, CreateSettings
from otel_lite.collector.consumer import PermanentError, RetryableError, ThrottledError, Traces
from otel_lite.collector.exporters.helper import (
    ExporterConfig,
    QueueFullError,
    RetryConfig,
    ShutdownError,
    backoff_delays,
)
from otel_lite.collector.pipeline import Host
from otel_lite.collector.telemetry import Telemetry
from tests.support.scripted_exporter import ScriptedExporter, build, failed, sent, wait_until

from .exporter_util import make_traces, metric

# ScriptedExporter, build, sent, failed, wait_until: tests/support/scripted_exporter.py

FAST = {"initial_interval": "5ms", "max_interval": "20ms", "max_elapsed_time": "20s"}


def test_defaults_match_go_collector():
    cfg = ExporterConfig.from_mapping({})
    assert cfg.timeout == 5.0
    r = cfg.retry_on_failure
    assert (
        r.enabled,
        r.initial_interval,
        r.max_interval,
        r.max_elapsed_time,
        r.multiplier,
        r.randomization_factor,
    ) == (True, 5.0, 30.0, 300.0, 1.5, 0.5)
    q = cfg.sending_queue
    assert (q.enabled, q.num_consumers, q.queue_size, q.block_on_overflow, q.wait_for_result, q.storage) == (
        True,
        10,
        1000,
        False,
        False,
        None,
    )


@pytest.mark.parametrize(
    "data, path",
    [
        ({"retry_on_failure": {"randomization_factor": 2}}, "retry_on_failure.randomization_factor"),
        ({"retry_on_failure": {"multiplier": 0.5}}, "retry_on_failure.multiplier"),
        ({"sending_queue": {"num_consumers": 0}}, "sending_queue.num_consumers"),
        ({"sending_queue": {"queue_size": 0}}, "sending_queue.queue_size"),
        ({"sending_queue": {"sizer": "pages"}}, "sending_queue.sizer"),
        ({"sending_queue": {"batch": {"sizer": "pages"}}}, "sending_queue.batch.sizer"),
        ({"sending_queue": {"batch": {"min_size": 10, "max_size": 5}}}, "sending_queue.batch.max_size"),
        ({"sending_queue": {"batch": {"flush_timeout": 0}}}, "sending_queue.batch.flush_timeout"),
        ({"sending_queue": {"storage": "not an id"}}, "sending_queue.storage"),
        ({"sending_queue": {"bogus": 1}}, "sending_queue.bogus"),
        ({"timeout": "fast"}, "timeout"),
    ],
)
def test_bad_config_names_the_key(data, path):
    with pytest.raises(ConfigError) as info:
        ExporterConfig.from_mapping(data)
    assert info.value.path == path


def test_backoff_grows_to_max_with_jitter_bounds():
    cfg = RetryConfig(initial_interval=1.0, max_interval=4.0, multiplier=2.0, randomization_factor=0.5)
    it = backoff_delays(cfg)
    delays = [next(it) for _ in range(6)]
    for d, base in zip(delays, [1, 2, 4, 4, 4, 4], strict=True):
        assert base * 0.5 <= d <= base * 1.5


def test_retryable_error_is_retried_then_delivered_once():
    async def main():
        exp, tel = build(
            {"retry_on_failure": FAST, "sending_queue": {"wait_for_result": True}},
            script=[RetryableError("down"), RetryableError("down"), None],
        )
        await exp.start(Host())
        await exp.consume(make_traces(7))
        await exp.shutdown()
        assert len(exp.attempts) == 3 and len(exp.delivered) == 1
        assert sent(tel) == 7 and failed(tel, False) == 0

    asyncio.run(main())


def test_unexpected_exception_is_retried():
    async def main():
        exp, tel = build(
            {"retry_on_failure": FAST, "sending_queue": {"enabled": False}}, script=[ConnectionResetError("boom"), None]
        )
        await exp.start(Host())
        await exp.consume(make_traces(2))
        await exp.shutdown()
        assert len(exp.attempts) == 2 and sent(tel) == 2

    asyncio.run(main())


def test_permanent_error_is_not_retried_and_reaches_waiting_caller():
    async def main():
        exp, tel = build(
            {"retry_on_failure": FAST, "sending_queue": {"wait_for_result": True}},
            script=[PermanentError("bad data", http_status=400)],
        )
        await exp.start(Host())
        with pytest.raises(PermanentError) as info:
            await exp.consume(make_traces(4))
        assert info.value.http_status == 400
        await exp.shutdown()
        assert len(exp.attempts) == 1
        assert failed(tel, True) == 4 and sent(tel) == 0

    asyncio.run(main())


def test_throttle_delay_is_a_lower_bound_for_the_next_attempt():
    async def main():
        exp, _tel = build(
            {"retry_on_failure": FAST, "sending_queue": {"enabled": False}},
            script=[ThrottledError("slow down", 0.3), None],
        )
        await exp.start(Host())
        await exp.consume(make_traces(1))
        await exp.shutdown()
        assert len(exp.attempts) == 2
        assert exp.attempts[1] - exp.attempts[0] >= 0.29

    asyncio.run(main())


def test_gives_up_after_max_elapsed_time():
    async def main():
        retry = dict(FAST, max_elapsed_time="100ms")
        exp, tel = build(
            {"retry_on_failure": retry, "sending_queue": {"enabled": False}}, script=[RetryableError("down")] * 1000
        )
        await exp.start(Host())
        with pytest.raises(RetryableError, match="no more retries left"):
            await exp.consume(make_traces(3))
        await exp.shutdown()
        assert len(exp.attempts) >= 2
        assert failed(tel, False) == 3

    asyncio.run(main())


def test_retry_disabled_makes_one_attempt():
    async def main():
        exp, _tel = build(
            {"retry_on_failure": {"enabled": False}, "sending_queue": {"enabled": False}},
            script=[RetryableError("down")],
        )
        await exp.start(Host())
        with pytest.raises(RetryableError, match="down"):
            await exp.consume(make_traces(3))
        await exp.shutdown()
        assert len(exp.attempts) == 1

    asyncio.run(main())


def test_attempt_timeout_is_retryable():
    class Slow(ScriptedExporter):
        async def push(self, traces):
            self.attempts.append(time.monotonic())
            await asyncio.sleep(30)

    async def main():
        cfg = ExporterConfig.from_mapping(
            {"timeout": "50ms", "retry_on_failure": {"enabled": False}, "sending_queue": {"enabled": False}}
        )
        exp = Slow(CreateSettings(ComponentID("scripted"), "exporter", Telemetry()), cfg)
        await exp.start(Host())
        with pytest.raises(RetryableError, match="timed out"):
            await exp.consume(make_traces(1))
        await exp.shutdown()

    asyncio.run(main())


def test_full_queue_refuses_with_retryable_error_and_counts_enqueue_failed():
    async def main():
        gate = asyncio.Event()
        exp, tel = build({"retry_on_failure": FAST, "sending_queue": {"num_consumers": 1, "queue_size": 3}}, gate=gate)
        await exp.start(Host())
        await exp.consume(make_traces(1, 0))
        await wait_until(lambda: len(exp.attempts) == 1)  # the consumer holds batch 0
        await exp.consume(make_traces(1, 1))
        await exp.consume(make_traces(1, 2))
        # the capacity counts the batch being sent too: it bounds all the exporter holds
        assert metric(tel, "otelcol_exporter_queue_size", exporter="scripted", data_type="traces") == 3
        assert metric(tel, "otelcol_exporter_queue_capacity", exporter="scripted", data_type="traces") == 3
        with pytest.raises(RetryableError, match="sending queue is full") as info:
            await exp.consume(make_traces(5, 3))
        assert isinstance(info.value, QueueFullError)
        assert metric(tel, "otelcol_exporter_enqueue_failed_spans_total", exporter="scripted") == 5
        gate.set()
        await wait_until(lambda: len(exp.delivered) == 3)
        await exp.shutdown()
        assert sorted(t.message.resource_spans[0].scope_spans[0].spans[0].name for t in exp.delivered) == [
            "s0-0",
            "s1-0",
            "s2-0",
        ]
        assert sent(tel) == 3

    asyncio.run(main())


def test_block_on_overflow_waits_for_room():
    async def main():
        gate = asyncio.Event()
        # capacity 2 counts the request being sent too
        exp, tel = build({"sending_queue": {"num_consumers": 1, "queue_size": 2, "block_on_overflow": True}}, gate=gate)
        await exp.start(Host())
        await exp.consume(make_traces(1))
        await wait_until(lambda: len(exp.attempts) == 1)
        await exp.consume(make_traces(1))
        blocked = asyncio.create_task(exp.consume(make_traces(1)))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        gate.set()
        await asyncio.wait_for(blocked, 10)
        await wait_until(lambda: len(exp.delivered) == 3)
        await exp.shutdown()
        assert metric(tel, "otelcol_exporter_enqueue_failed_spans_total", exporter="scripted") == 0

    asyncio.run(main())


def test_without_wait_for_result_the_caller_returns_once_queued():
    async def main():
        gate = asyncio.Event()
        exp, tel = build({"retry_on_failure": {"enabled": False}}, script=[PermanentError("nope")], gate=gate)
        await exp.start(Host())
        await asyncio.wait_for(exp.consume(make_traces(2)), 5)  # returns although nothing was sent yet
        gate.set()
        await wait_until(lambda: failed(tel, True) == 2)
        await exp.shutdown()

    asyncio.run(main())


def test_wait_for_result_surfaces_retryable_failure_after_retries():
    async def main():
        retry = dict(FAST, max_elapsed_time="60ms")
        exp, _tel = build(
            {"retry_on_failure": retry, "sending_queue": {"wait_for_result": True}},
            script=[RetryableError("backend down")] * 1000,
        )
        await exp.start(Host())
        with pytest.raises(RetryableError, match="backend down"):
            await exp.consume(make_traces(2))
        await exp.shutdown()

    asyncio.run(main())


def test_empty_batches_are_ignored():
    async def main():
        exp, _tel = build({"sending_queue": {"wait_for_result": True}})
        await exp.start(Host())
        await exp.consume(Traces())
        await exp.shutdown()
        assert exp.attempts == []

    asyncio.run(main())


def test_shutdown_drains_in_memory_queue_with_one_attempt_each():
    async def main():
        gate = asyncio.Event()
        exp, tel = build({"retry_on_failure": FAST, "sending_queue": {"num_consumers": 2}}, gate=gate)
        await exp.start(Host())
        for i in range(20):
            await exp.consume(make_traces(1, i))
        gate.set()
        await asyncio.wait_for(exp.shutdown(), 20)
        assert len(exp.delivered) == 20 and sent(tel) == 20
        assert metric(tel, "otelcol_exporter_queue_size", exporter="scripted", data_type="traces") == 0

    asyncio.run(main())


def test_shutdown_aborts_retry_sleeps():
    async def main():
        slow_retry = {"initial_interval": "60s", "max_interval": "60s", "max_elapsed_time": "0"}
        exp, tel = build(
            {"retry_on_failure": slow_retry, "sending_queue": {"num_consumers": 1}},
            script=[RetryableError("down")] * 100,
        )
        await exp.start(Host())
        await exp.consume(make_traces(3, 0))
        await exp.consume(make_traces(3, 1))
        await wait_until(lambda: len(exp.attempts) == 1)  # batch 0 now sleeps 30-90 s before its retry
        started = time.monotonic()
        await asyncio.wait_for(exp.shutdown(), 20)
        assert time.monotonic() - started < 20
        # batch 0: its first attempt plus one final one; batch 1: a single attempt
        assert len(exp.attempts) == 3
        assert failed(tel, False) == 6

    asyncio.run(main())


def test_lifecycle_edges():
    async def main():
        exp, _tel = build()
        await exp.shutdown()  # never started
        await exp.shutdown()  # twice
        exp, _tel = build()
        await exp.start(Host())
        await exp.shutdown()
        with pytest.raises(RetryableError, match="shutting down"):
            await exp.consume(make_traces(1))

    asyncio.run(main())


def test_waiting_caller_gets_shutdown_error_when_its_batch_cannot_be_sent():
    async def main():
        gate = asyncio.Event()
        exp, _tel = build({"sending_queue": {"num_consumers": 1, "wait_for_result": True}}, gate=gate)
        exp.drain_timeout = 0.1
        await exp.start(Host())
        first = asyncio.create_task(exp.consume(make_traces(1)))
        await wait_until(lambda: len(exp.attempts) == 1)
        second = asyncio.create_task(exp.consume(make_traces(1)))
        await asyncio.sleep(0.01)
        await exp.shutdown()  # the gate never opens: both batches are given up
        for task in (first, second):
            with pytest.raises(ShutdownError):
                await task

    asyncio.run(main())
