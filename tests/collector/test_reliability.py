"""Overload, outages and crashes, end to end: a real collector process
(``python -m otel_lite.collector``) between real clients and a real OTLP backend.

Every span carries a unique id; the clients record per request whether the
collector acknowledged it, and the backend counts every id it receives.  The
promise checked everywhere: **every acknowledged span is delivered** (at least
once; duplicates are allowed and counted), whatever happens in between —
overload, a backend outage, ``kill -9``, SIGTERM — and every span the collector
received is accounted for in its ``otelcol_*`` metrics.

The longer versions of these scenarios are in ``benchmarks/reliability_report.py``.
No assertion depends on timing: waits are bounded polls on outcomes.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time

import pytest

from tests.support.reliability import (
    Backend,
    CollectorProcess,
    GrpcClient,
    HttpClient,
    Ledger,
    LoadGenerator,
    free_port,
    pipeline_config,
    send_request,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20


@pytest.fixture
def backend():
    b = Backend()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def collectors(tmp_path):
    """Make collector processes; every one is killed at teardown whatever happened."""
    made: list[CollectorProcess] = []

    def make(backend: Backend, **params) -> CollectorProcess:
        storage = tmp_path / f"storage{len(made)}"
        storage.mkdir()
        workdir = tmp_path / f"run{len(made)}"
        workdir.mkdir()
        c = CollectorProcess(pipeline_config(backend.endpoint, str(storage), **params), str(workdir))
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.stop()


def drained(c: CollectorProcess) -> bool:
    m = c.metrics()
    return m.get("otelcol_exporter_queue_size", 0) == 0 and m.get("otelcol_exporter_in_flight_requests", 0) == 0


def assert_all_acknowledged_delivered(backend: Backend, ledger: Ledger, timeout: float = 30) -> None:
    assert ledger.acked, "the scenario acknowledged nothing"
    if not wait_until(lambda: backend.has_all(ledger.acked), timeout, 0.05):
        counts = backend.snapshot()
        missing = sorted(i for i in ledger.acked if i not in counts)
        raise AssertionError(f"{len(missing)} acknowledged spans never delivered, e.g. {missing[:10]}")


# ---------------------------------------------------------------------------
# Overload


def _sdk_spans(n: int, name: str):
    import otel_lite

    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    tracer = provider.get_tracer("reliability")
    spans = []
    for i in range(n):
        span = tracer.start_span(f"{name}-{i}")
        span.end()
        spans.append(span)
    return spans


def test_overload_refuses_retryably_clients_retry_and_everything_acknowledged_is_delivered(backend, collectors, caplog):
    """A backend far slower than the input, a small in-memory queue: the collector
    refuses with 503 / UNAVAILABLE (never times out, never grows), the official
    OTLP exporters and otel_lite's exporters back off and retry until accepted,
    and once the load stops every acknowledged span reaches the backend.
    Accounting: received = accepted + refused, accepted = sent (no drops)."""
    backend.delay = 0.2  # one request at a time (1 consumer): at most 200 spans per 0.2 s
    c = collectors(backend, persistent=False, batch_timeout="10ms", batch_size=200, queue_size=4, consumers=1)
    c.start()
    ledger = Ledger()

    # phase 1: raw clients (gRPC and HTTP) at full speed against the slow backend
    load = LoadGenerator(c, ledger, threads=6, spans=100).start()
    try:
        assert wait_until(lambda: ledger.refused >= 2000, 60, 0.05), ledger.statuses
    finally:
        load.stop()
    assert {"grpc UNAVAILABLE", "http 503"} & set(ledger.statuses)
    assert ledger.errors == 0, ledger.statuses  # refusals are retryable statuses, nothing else

    # phase 2: the backend stalls; once the exporter's only consumer is stuck on it
    # and the queue is full, every request is refused at once
    backend.block()
    probe = GrpcClient(c.grpc_endpoint)
    try:
        assert wait_until(lambda: backend.waiting > 0, 30, 0.01)
        assert wait_until(lambda: send_request(probe, ledger, 100) == "refused", 30, 0.01)
    finally:
        probe.close()

    caplog.set_level(logging.WARNING)
    endpoint_grpc, url = c.grpc_endpoint, c.http_url
    exporters = {
        name: _exporter(name, endpoint_grpc, url)
        for name in ("official-grpc", "official-http", "lite-grpc", "lite-http")
    }
    spans = {name: _sdk_spans(20, name) for name in exporters}
    results: dict[str, object] = {}

    def export(name):
        results[name] = exporters[name].export(spans[name])

    threads = [threading.Thread(target=export, args=(n,)) for n in exporters]
    before = c.metric("otelcol_receiver_refused_spans_total")
    for t in threads:
        t.start()
    try:
        # each exporter is refused at least once before the backend comes back
        assert wait_until(lambda: c.metric("otelcol_receiver_refused_spans_total") - before >= 4 * 20, 30, 0.05), (
            before,
            c.metrics(),
            results,
        )
    finally:
        backend.delay = 0.0
        backend.release()
        for t in threads:
            t.join(60)
    for e in exporters.values():
        e.shutdown()
    assert {n: getattr(r, "name", r) for n, r in results.items()} == dict.fromkeys(exporters, "SUCCESS")
    transient = [r for r in caplog.records if "Transient error" in r.getMessage()]
    assert any("grpc" in r.name for r in transient) and any("http" in r.name for r in transient)
    assert exporters["lite-grpc"].stats()["retries"] > 0 and exporters["lite-http"].stats()["retries"] > 0

    # after the load: everything acknowledged arrives, and the books balance
    sdk_ids = {s.context.span_id for ss in spans.values() for s in ss}
    assert wait_until(lambda: drained(c), 30, 0.05)
    assert_all_acknowledged_delivered(backend, ledger)
    assert backend.has_all(sdk_ids)
    m = c.metrics()
    accepted, refused = m["otelcol_receiver_accepted_spans_total"], m["otelcol_receiver_refused_spans_total"]
    acked = len(ledger.acked) + len(sdk_ids)
    assert acked <= accepted <= acked + ledger.failed
    assert refused >= ledger.refused + len(sdk_ids)
    assert (
        refused
        == m["otelcol_exporter_enqueue_failed_spans_total"] + m["otelcol_processor_memory_limiter_refused_spans_total"]
    )
    assert m["otelcol_exporter_send_failed_spans_total"] == 0
    assert m["otelcol_exporter_sent_spans_total"] == accepted  # every accepted span was sent, none dropped
    assert "sending queue is full" in c.log()  # refusals are logged (rate-limited), not silent
    assert c.term() == 0
    assert c.peak_rss < 400 * MIB  # bounded by the queue, not by the input


def test_memory_limiter_refuses_before_the_limit_and_recovers(backend, collectors):
    """A stalled backend and a queue too big to be the bound: memory grows until
    the memory limiter refuses (503 / UNAVAILABLE) below its hard limit; when the
    backend is back everything acknowledged is delivered and data is accepted again."""
    backend.block()
    c = collectors(
        backend, persistent=False, batch_timeout="10ms", limit_mib=180, spike_mib=50, queue_size=100000, consumers=1
    )
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=4, spans=50, payload=4096).start()
    try:
        assert wait_until(lambda: c.metric("otelcol_processor_memory_limiter_refused_spans_total") > 0, 60, 0.05)
        assert wait_until(lambda: ledger.refused > 0, 10, 0.02)
    finally:
        load.stop()
    assert c.metric("otelcol_exporter_enqueue_failed_spans_total") == 0  # the limiter refused, not the queue
    assert c.metrics() and c.peak_rss < 180 * MIB  # refused before the hard limit
    backend.release()
    assert_all_acknowledged_delivered(backend, ledger, 60)
    assert "Refusing data" in c.log()
    client = HttpClient(c.http_url)
    try:  # memory is given back once the queue drained: accepted again
        assert wait_until(lambda: send_request(client, ledger, 10) == "ok", 30, 0.1)
    finally:
        client.close()
    assert c.term() == 0


@pytest.mark.parametrize("client", ["official-grpc", "official-http", "lite-grpc", "lite-http"])
def test_throttling_429_resource_exhausted_delay_is_honoured_by_clients(loop_thread, client):
    """When the pipeline throttles (ThrottledError: a backend's 429 / RESOURCE_EXHAUSTED +
    RetryInfo, passed through by a waiting pipeline), the receiver answers 429 + Retry-After /
    RESOURCE_EXHAUSTED + RetryInfo, and the exporters wait at least that long before retrying."""
    from otel_lite.collector.consumer import ThrottledError
    from tests.support.capture_collector import Running

    running = Running(loop_thread)
    try:
        running.capture.fail_with = [ThrottledError("slow down", 1.5)]
        exporter = _exporter(client, running.grpc_target, running.http_url)
        spans = _sdk_spans(5, client)
        t0 = time.monotonic()
        result = exporter.export(spans)
        elapsed = time.monotonic() - t0
        exporter.shutdown()
        assert getattr(result, "name", result) == "SUCCESS"
        assert running.capture.calls == 2 and len(running.capture.spans()) == 5
        assert elapsed >= 1.4, elapsed  # the server's delay, not the client's own 1 s first backoff
    finally:
        running.stop()


def _exporter(name: str, grpc_target: str, url: str, timeout: float = 30):
    if name == "official-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=grpc_target, insecure=True, timeout=timeout)
    if name == "official-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=url, timeout=timeout)
    if name == "lite-grpc":
        from otel_lite.export.otlp_grpc import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"http://{grpc_target}", timeout=timeout)
    from otel_lite.export.otlp_http import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=url, timeout=timeout)


# ---------------------------------------------------------------------------
# Acknowledged means on disk


@pytest.mark.parametrize("transport", ["grpc", "http"])
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "no-batch"])
def test_success_is_answered_only_once_the_spans_are_committed_to_the_persistent_queue(
    loop_thread, tmp_path, transport, batch
):
    """With ``sending_queue.storage`` the receiver's OK waits for the SQLite commit, also
    through a batch processor (which hands each request straight to the persistent queue,
    where batches form when sent): the commit is held back here, and the client gets no
    answer until it is released."""
    import sqlite3

    from otel_lite.collector.config import build_config, parse_yaml
    from otel_lite.collector.service import Collector

    text = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}, http: {{endpoint: "127.0.0.1:0"}}}}}}
processors:
  batch: {{timeout: 20ms}}
exporters:
  otlp_grpc:
    endpoint: "127.0.0.1:{free_port()}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 1s, max_elapsed_time: 0}}
    sending_queue: {{storage: file_storage}}
extensions:
  file_storage: {{directory: "{tmp_path}"}}
service:
  extensions: [file_storage]
  pipelines:
    traces: {{receivers: [otlp], processors: [{"batch" if batch else ""}], exporters: [otlp_grpc]}}
  telemetry: {{metrics: {{level: none}}}}
"""
    collector = loop_thread.call(Collector, build_config(parse_yaml(text)))
    loop_thread.run(collector.start())
    try:
        pq = collector.graph.get("exporter", "otlp_grpc").queue
        gate = threading.Event()
        commit = pq._commit_sync

        def held_commit(rows, deletes):
            if rows:
                gate.wait(30)
            return commit(rows, deletes)

        pq._commit_sync = held_commit
        receiver = collector.graph.get("receiver", "otlp")
        if transport == "grpc":
            client = GrpcClient(f"127.0.0.1:{receiver.grpc_port}", timeout=30)
        else:
            client = HttpClient(f"http://127.0.0.1:{receiver.http_port}/v1/traces", timeout=30)
        ledger = Ledger()
        sender = threading.Thread(target=send_request, args=(client, ledger, 7))
        sender.start()
        sender.join(1.0)
        assert sender.is_alive() and ledger.requests == 0  # no answer while the commit is pending
        gate.set()
        sender.join(30)
        client.close()
        assert len(ledger.acked) == 7
        conn = sqlite3.connect(str(tmp_path / "exporter_otlp_grpc__traces"))
        try:  # the acknowledged spans are in the file (the backend is unreachable: nothing was sent)
            assert conn.execute("SELECT SUM(spans) FROM queue").fetchone()[0] == 7
        finally:
            conn.close()
    finally:
        gate.set()
        loop_thread.run(collector.shutdown())


# ---------------------------------------------------------------------------
# Backend outage under load


def test_backend_outage_with_persistent_queue_delivers_everything_acknowledged(backend, collectors):
    c = collectors(backend, persistent=True, batch_timeout="20ms", queue_size=5000)
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=4, spans=50, rate=4000).start()
    try:
        assert wait_until(lambda: len(ledger.acked) >= 1000, 30)
        backend.down()
        acked_before = len(ledger.acked)
        # the collector keeps acknowledging while the backend is down: the data is on disk
        assert wait_until(lambda: len(ledger.acked) >= acked_before + 1500, 30)
        assert c.metric("otelcol_exporter_queue_size") > 0
        backend.up()
        assert wait_until(lambda: len(ledger.acked) >= acked_before + 2000, 30)
    finally:
        load.stop()
    assert_all_acknowledged_delivered(backend, ledger, 60)
    assert wait_until(lambda: drained(c), 30, 0.05)
    m = c.metrics()
    assert m["otelcol_exporter_send_failed_spans_total"] == 0
    assert m["otelcol_exporter_sent_spans_total"] == m["otelcol_receiver_accepted_spans_total"]
    assert c.term() == 0


def test_backend_outage_without_persistent_queue_counts_and_logs_every_drop(backend, collectors):
    """Retries give up after 1 s: what is dropped is counted in
    otelcol_exporter_send_failed_spans and logged with its size — never silent."""
    c = collectors(backend, persistent=False, batch_timeout="20ms", queue_size=5000, max_elapsed="1s")
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=4, spans=50, rate=4000).start()
    try:
        assert wait_until(lambda: len(ledger.acked) >= 1000, 30)
        backend.down()
        assert wait_until(lambda: c.metric("otelcol_exporter_send_failed_spans_total") >= 500, 30)
        backend.up()
        acked = len(ledger.acked)
        assert wait_until(lambda: len(ledger.acked) >= acked + 500, 30)
    finally:
        load.stop()
    assert wait_until(lambda: drained(c), 30, 0.05)
    m = c.metrics()
    failed = m["otelcol_exporter_send_failed_spans_total"]
    assert m["otelcol_exporter_sent_spans_total"] + failed == m["otelcol_receiver_accepted_spans_total"]
    counts = backend.snapshot()
    lost = sum(1 for i in ledger.acked if i not in counts)
    assert 0 < lost <= failed  # every acknowledged span that was lost is a counted drop
    assert c.term() == 0
    logged = sum(int(n) for n in re.findall(r"Exporting failed\. Dropping data\..*?dropped_items=(\d+)", c.log()))
    assert logged == failed


# ---------------------------------------------------------------------------
# Crashes and restarts


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "no-batch"])
def test_kill_9_under_load_loses_nothing_acknowledged(backend, collectors, batch):
    """SIGKILL at two moments under load (data in the batch processor, in the
    queue, in flight to a slow backend); after each restart the load resumes.
    At least once: duplicates are allowed (and counted), losses are not."""
    backend.delay = 0.02
    c = collectors(backend, persistent=True, batch=batch, batch_timeout="200ms", queue_size=5000, fsync=not batch)
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=6, spans=50, rate=3000, backoff=0.05).start()
    try:
        for _ in range(2):
            target = len(ledger.acked) + 1000
            assert wait_until(lambda target=target: len(ledger.acked) >= target, 30)
            c.kill9()
            c.start()
        target = len(ledger.acked) + 300
        assert wait_until(lambda: len(ledger.acked) >= target, 30)
    finally:
        load.stop()
    backend.delay = 0.0
    assert_all_acknowledged_delivered(backend, ledger, 60)
    counts = backend.snapshot()
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    assert duplicates <= ledger.sent  # counted, bounded
    assert c.term() == 0


@pytest.mark.parametrize("persistent", [True, False], ids=["persistent", "in-memory"])
def test_sigterm_under_load_loses_nothing(backend, collectors, persistent):
    """SIGTERM: receivers stop first, the batch processor flushes; the in-memory
    queue drains to the backend before exit, the persistent queue keeps its rows
    for the next start.  Nothing acknowledged is lost either way."""
    backend.delay = 0.01
    c = collectors(backend, persistent=persistent, batch_timeout="200ms", queue_size=5000)
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=6, spans=50, rate=3000).start()
    try:
        assert wait_until(lambda: len(ledger.acked) >= 1500, 30)
        assert c.term() == 0
    finally:
        load.stop()
    if persistent:
        c.start()
    assert_all_acknowledged_delivered(backend, ledger, 60)
    if persistent:
        assert c.term() == 0
    assert "Dropping data" not in c.log()


def test_sigterm_with_a_hanging_backend_counts_and_logs_what_the_in_memory_queue_drops(backend, collectors):
    """The backend hangs, then fails: on SIGTERM the in-memory queue gets one attempt per
    batch; batches whose send was in progress when the stop came, and batches left when
    the drain ends, are dropped — each one logged with its size, never silently."""
    backend.block()
    backend.discard = True  # once released, every request fails: nothing is delivered
    c = collectors(backend, persistent=False, batch=False, queue_size=8, consumers=2)
    c.start()
    ledger = Ledger()
    client = GrpcClient(c.grpc_endpoint)
    try:
        for _ in range(8):  # 2 in flight (hanging) + 6 queued
            assert send_request(client, ledger, 25) == "ok"
        assert wait_until(lambda: backend.waiting == 2, 30, 0.01)
    finally:
        client.close()
    term = threading.Thread(target=c.term)
    term.start()
    time.sleep(0.5)  # the stop arrives while both sends hang
    backend.release()  # every attempt from now on fails at once
    term.join(60)
    assert c.proc.returncode == 0
    assert backend.unique() == 0
    log = c.log()
    # one line with the totals, not one per batch
    assert re.findall(r"undelivered data: dropped_spans=(\d+)", log) == ["200"], log
    assert len(ledger.acked) == 200
    assert "Dropping data" not in log


def test_in_memory_drain_deadline_counts_and_logs_the_batch_cut_off_mid_send():
    """When the shutdown drain deadline passes, the batch being sent is cancelled: it is
    lost like the ones still queued, so it is counted and logged like them."""
    import asyncio

    from otel_lite.collector.pipeline import Host
    from tests.collector.exporter_util import make_traces, metric
    from tests.support.scripted_exporter import build

    async def main():
        gate = asyncio.Event()  # never opens: every send hangs
        exp, tel = build({"sending_queue": {"num_consumers": 1}}, gate=gate)
        exp.drain_timeout = 0.2
        await exp.start(Host())
        for i in range(3):
            await exp.consume(make_traces(4, i))
        await asyncio.wait_for(exp.shutdown(), 20)
        return tel, exp

    tel, exp = asyncio.run(main())
    assert metric(tel, "otelcol_exporter_send_failed_spans_total", exporter="scripted", error_permanent="false") == 12
    # reported for the collector's one shutdown line (see the SIGTERM test above)
    assert exp.undelivered() == (12, 0)


def test_persistent_queue_shutdown_mid_retry_is_not_counted_as_a_drop(tmp_path):
    """Batches whose retries a shutdown interrupts stay on disk for the next start:
    they must not show up in otelcol_exporter_send_failed_spans (the books would count
    them twice: dropped now, sent after the restart)."""
    import asyncio

    from otel_lite.collector.telemetry import Telemetry
    from tests.collector import exporter_pq_child as child
    from tests.collector.exporter_util import make_traces, metric

    down = f"127.0.0.1:{free_port()}"

    async def main():
        tel = Telemetry()
        exp, fs = await child.build(str(tmp_path), down, tel)
        for i in range(4):
            await exp.consume(make_traces(5, i))
        await asyncio.sleep(0.3)  # the consumers are retrying against the dead endpoint
        await asyncio.wait_for(exp.shutdown(), 20)
        await fs.shutdown()
        return tel

    tel = asyncio.run(main())
    name = str(child.EXPORTER_ID)
    assert metric(tel, "otelcol_exporter_send_failed_spans_total", exporter=name, error_permanent="false") == 0
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter=name) == 0
    import sqlite3

    conn = sqlite3.connect(str(tmp_path / "exporter_otlp_grpc_backend_traces"))
    try:
        assert conn.execute("SELECT SUM(spans) FROM queue").fetchone()[0] == 20
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# The SDK in front of a dead or slow collector


def _round(tracer, duration: float) -> list[float]:
    """For ``duration`` seconds, bursts of 20 request-like spans (start, attribute, end)
    separated by short sleeps, so the processor's worker runs meanwhile; the latency of each span."""
    clock = time.perf_counter
    out = []
    end = clock() + duration
    while clock() < end:
        for _ in range(20):
            t0 = clock()
            with tracer.start_as_current_span("request") as span:
                span.set_attribute("http.route", "/cart")
            out.append(clock() - t0)
        time.sleep(0.0005)
    return out


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class _NoopExporter:
    def export(self, spans, timeout_millis=None):
        from otel_lite.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


def _measure(exporter, queue: int = 512, rounds: int = 4, duration: float = 0.25):
    """(best p50, best p99) over ``rounds`` rounds, the peak queue length, the
    processor's counters and the number of spans made.  Taking the best round
    filters out what other processes on a shared machine do to us."""
    import otel_lite

    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    bsp = otel_lite.BatchSpanProcessor(
        exporter, max_queue_size=queue, max_export_batch_size=128, schedule_delay_millis=50, export_timeout_millis=2000
    )
    provider.add_span_processor(bsp)
    tracer = provider.get_tracer("app")
    made = len(_round(tracer, 0.02))  # warm up
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.wait(0.002):
            peak[0] = max(peak[0], bsp.stats()["spans_queued"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    p50s, p99s = [], []
    for _ in range(rounds):
        lat = _round(tracer, duration)
        made += len(lat)
        p50s.append(_percentile(lat, 0.5))
        p99s.append(_percentile(lat, 0.99))
    stop.set()
    watcher.join()
    stats = bsp.stats()
    provider.shutdown(timeout_millis=100)
    return min(p50s), min(p99s), peak[0], stats, made


@pytest.mark.parametrize("collector", ["dead", "slow"])
def test_sdk_latency_and_memory_are_unaffected_by_a_dead_or_slow_collector(collector):
    from otel_lite.export.otlp_grpc import OTLPSpanExporter

    base50, base99, _, _, _ = _measure(_NoopExporter())
    if collector == "dead":
        port = free_port()  # bound but not listening: connection refused
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            p50, p99, peak, stats, total = _measure(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}", timeout=2))
    else:
        with Backend(delay=0.5, workers=1) as slow:
            p50, p99, peak, stats, total = _measure(OTLPSpanExporter(endpoint=f"http://{slow.endpoint}", timeout=2))
    # the application's latency per span: the no-op exporter's order of magnitude, and under 1 ms
    assert p50 < 10 * base50 + 20e-6, (p50, base50)
    assert p99 < 10 * base99 + 50e-6 and p99 < 1e-3, (p99, base99)
    assert peak <= 512  # memory bounded by max_queue_size
    assert stats["spans_dropped"] > 0  # the overflow is counted
    assert (
        stats["spans_dropped"] + stats["spans_exported"] + stats["spans_export_failed"] + stats["spans_queued"] <= total
    )
