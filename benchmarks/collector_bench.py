#!/usr/bin/env python3
"""Collector benchmark: OTLP/gRPC -> batch -> OTLP/gRPC, against floors and rotel.

Every figure is measured in this run, on this machine, next to:
  * a do-nothing server on the same transport (the transport floor),
  * a raw sink that only parses requests and counts spans,
  * rotel (a Rust OTLP collector from PyPI) doing the same forwarding.
A separate load-generator process sends pre-encoded OTLP requests at a set
rate; a separate sink process counts what comes out.

Scenarios:
  cpu         CPU % of one core and RSS at a fixed load (10k spans/s in
              100-span requests, as in the OpenTelemetry Collector's load test;
              also HTTP, and 100k spans/s in 1000-span requests)
  throughput  maximum sustained spans/s with zero loss, 100 and 1000 spans
              per request, vs the raw sink and rotel
  variants    the same with the HTTP receiver, gzip, probabilistic and tail
              sampling
  legacy      CPU at 10k spans/s x100 per legacy receiver protocol (Jaeger
              gRPC / Thrift HTTP / Thrift compact and binary UDP; loads from
              legacy_load.py), as a ratio to our OTLP/gRPC in the same run
  sequential  ONE sender with one request in flight (closed loop, no rate
              limit), like every SDK's BatchSpanProcessor: spans/s and ack
              latency p50/p99 over OTLP/gRPC and OTLP/HTTP, 100- and 1000-span
              requests, for our default config, exporter-side batching
              (sending_queue.batch, in memory and persistent) and the batch
              processor, next to rotel and the transport floor.  A sequential
              sender's rate is spans per request / ack latency.
  sdk         real SDKs on their defaults (opentelemetry-sdk and otel_lite
              BatchSpanProcessor + OTLP exporters), each in its own process
              (sdk_senders.py), producing 10k / 20k spans/s for 4 s: spans
              the SDK dropped and spans delivered, against our default config,
              batch + a persistent queue, rotel and the raw counting sink.

    python benchmarks/collector_bench.py            # full run, ~16 minutes
    python benchmarks/collector_bench.py --quick    # ~4 minutes
    python benchmarks/collector_bench.py --scenarios throughput --sizes 1000
    python benchmarks/collector_bench.py --scenarios sequential             # ~3-4 minutes
    python benchmarks/collector_bench.py --scenarios sequential --sequential-seconds 2 \
        --sequential-sizes 100 --sequential-configs default,queue-batch
    python benchmarks/collector_bench.py --scenarios sdk                    # ~3 minutes

Zero-loss maximum: a closed-loop probe estimates capacity, then fixed-rate
steps (from 0.9x the estimate, going up while they pass, down while they
fail) must be sent on time, acknowledged in full, without errors, and all
spans must reach the sink (sampled pipelines: the collector's own loss
counters must stay at zero).  The figure is the highest passing rate, so it
is a lower bound within one step (~20%).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import collector_targets as targets
import psutil
from collector_targets import LoadGen, Running, Unavailable

MIB = 1024 * 1024


# -- measurement ---------------------------------------------------------------


def tree_cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class Monitor:
    """CPU (user+system delta over the window / wall time, % of one core) and
    RSS (sampled every 0.5 s) of a process and its children."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.samples.append(tree_rss(self.proc))
            if self._stop.wait(self.interval):
                return

    def start(self) -> Monitor:
        psutil.cpu_percent(None)  # machine-wide busy %, measured from here
        self.t0 = time.monotonic()
        self.cpu0 = tree_cpu_seconds(self.proc)
        self._thread.start()
        return self

    def stop(self) -> tuple[float, float, float]:
        cpu = tree_cpu_seconds(self.proc) - self.cpu0
        wall = time.monotonic() - self.t0
        self.machine_busy = psutil.cpu_percent(None)
        self._stop.set()
        self._thread.join()
        self.samples.append(tree_rss(self.proc))
        rss = [s for s in self.samples if s]
        avg = sum(rss) / len(rss) / MIB if rss else 0.0
        peak = max(rss) / MIB if rss else 0.0
        return 100.0 * cpu / wall, avg, peak


@dataclass
class Step:
    system: str
    rate: float | None  # offered spans/s (None: closed loop)
    spans_per_request: int
    cpu_pct: float
    rss_avg_mib: float
    rss_peak_mib: float
    sent: int
    acked: int
    delivered: int
    window_delivered_rate: float  # spans/s that reached the sink during the measured window
    losses_counted: int | None
    machine_busy_pct: float  # all cores, every process (the load generator and sink included)
    load: dict
    ok: bool
    reasons: list = field(default_factory=list)

    @property
    def cpu_us_per_span(self) -> float | None:
        rate = self.rate or self.load.get("acked_spans_per_s") or 0
        return 10_000.0 * self.cpu_pct / rate if rate else None  # (cpu%/100 s/s) / (spans/s) * 1e6


def wait_settled(run: Running, timeout: float = 10.0) -> None:
    """Wait until the sink count stops moving (after a failed step left a backlog)."""
    if run.counter is None:
        return
    deadline = time.monotonic() + timeout
    prev = run.delivered()
    while time.monotonic() < deadline:
        time.sleep(0.4)
        cur = run.delivered()
        if cur == prev:
            return
        prev = cur


def drain(run: Running, base: int, acked: int, timeout: float) -> int:
    """Spans delivered since ``base`` once the pipeline has flushed."""
    if run.counter is None:
        return acked
    deadline = time.monotonic() + timeout + run.settle_time
    if not run.sampled:
        while True:
            got = run.delivered() - base
            if got >= acked or time.monotonic() > deadline:
                return got
            time.sleep(0.05)
    time.sleep(run.settle_time + 0.3)
    prev = run.delivered()
    while time.monotonic() < deadline:
        time.sleep(0.4)
        cur = run.delivered()
        if cur == prev:
            break
        prev = cur
    return prev - base


def run_step(
    run: Running,
    lg: LoadGen,
    rate: float | None,
    duration: float,
    warmup: float,
    max_inflight: int | None = None,
    drain_timeout: float = 5.0,
) -> Step:
    if not run.alive():
        raise Unavailable(f"{run.name} is no longer running")
    base = run.delivered()
    metrics0 = targets.scrape(run.metrics_url)
    lg.start(rate, warmup + duration, max_inflight)
    time.sleep(warmup)
    mon = Monitor(run.pid).start()
    window0 = run.delivered()
    time.sleep(duration)
    window1 = run.delivered()
    cpu, rss_avg, rss_peak = mon.stop()
    res = lg.result()
    delivered = drain(run, base, res["acked_spans"], drain_timeout)
    metrics1 = targets.scrape(run.metrics_url)
    losses = sampled_out = None
    if metrics0 is not None and metrics1 is not None:
        losses = targets.losses(metrics1) - targets.losses(metrics0)
        if run.sampler_label:
            sampled_out = targets.metric_sum(
                metrics1, "otelcol_processor_outgoing_items", run.sampler_label
            ) - targets.metric_sum(metrics0, "otelcol_processor_outgoing_items", run.sampler_label)
            deadline = time.monotonic() + 3.0  # spans counted out may still sit in the batch
            while delivered < sampled_out and time.monotonic() < deadline:
                time.sleep(0.1)
                delivered = run.delivered() - base
    window_rate = res["acked_spans_per_s"] if window0 is None else (window1 - window0) / duration
    reasons = []
    if res["errors"]:
        reasons.append(f"errors {res['errors']}")
    if res["acked_spans"] < res["sent_spans"]:
        reasons.append(f"{res['sent_spans'] - res['acked_spans']} spans not acknowledged")
    if rate is not None and res["achieved_spans_per_s"] < 0.97 * rate:
        reasons.append(f"fell behind (sent {res['achieved_spans_per_s']:.0f}/s)")
    if run.counter is not None and not run.sampled and delivered < res["acked_spans"]:
        reasons.append(f"{res['acked_spans'] - delivered} acknowledged spans never reached the sink")
    if run.sampled and res["acked_spans"] and delivered == 0:
        reasons.append("nothing reached the sink")
    if sampled_out is not None and delivered < sampled_out:
        reasons.append(f"{sampled_out - delivered} sampled spans never reached the sink")
    if losses:
        reasons.append(f"collector counted {losses} lost spans")
    if not run.alive():
        reasons.append("process died")
    return Step(
        run.name,
        rate,
        lg.spans_per_request,
        cpu,
        rss_avg,
        rss_peak,
        res["sent_spans"],
        res["acked_spans"],
        delivered,
        window_rate,
        losses,
        mon.machine_busy,
        res,
        not reasons,
        reasons,
    )


def nice(rate: float) -> int:
    """Round a rate to 2 significant digits so figures read cleanly."""
    if rate <= 0:
        return 0
    digits = len(str(int(rate))) - 2
    unit = 10 ** max(digits, 0)
    return max(unit, round(rate / unit) * unit)


@dataclass
class Search:
    system: str
    transport: str
    gzip: bool
    sampler: str | None
    spans_per_request: int
    max_rate: int | None = None  # highest passing rate
    best: Step | None = None  # the step at max_rate
    reference: Step | None = None  # fixed-rate step at the reference rate
    lowest_failed: int | None = None
    steps: list = field(default_factory=list)
    error: str | None = None


@dataclass
class Settings:
    quick: bool
    measure_time: float  # cpu scenario window
    warmup: float
    probe_time: float
    step_time: float
    step_warmup: float
    up_steps: int
    down_steps: int
    ref_rate: int
    probe_inflight: int
    seq_time: float = 5.0  # sequential scenario: measured window per row
    seq_rate: float | None = None  # sequential scenario: spans/s offered (None: as fast as answers come)
    seq_warmup: float = 1.0  # sequential scenario: warm-up before it (not counted)
    sdk_time: float = 4.0  # sdk scenario: seconds of paced production per run


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def describe(step: Step) -> str:
    rate = f"{step.rate:.0f}/s" if step.rate else "closed-loop"
    status = "ok" if step.ok else "FAIL: " + "; ".join(step.reasons)
    return (
        f"    {step.system:<24} {rate:>12} x{step.spans_per_request:<5} cpu {step.cpu_pct:6.1f}%  "
        f"rss {step.rss_avg_mib:5.1f}/{step.rss_peak_mib:5.1f} MiB  "
        f"acked {step.load['acked_spans_per_s']:>9.0f}/s  "
        f"sink {step.window_delivered_rate:>9.0f}/s  p99 {step.load['latency_ms_p99']} ms  "
        f"loadgen {step.load['loadgen_cpu_pct']}%  machine {step.machine_busy_pct:.0f}%  {status}"
    )


# -- systems ---------------------------------------------------------------------


class Systems:
    """Starts systems under test and remembers which cannot run."""

    def __init__(self, wanted: set[str]):
        self.wanted = wanted
        self.skipped: dict[str, str] = {}

    def start(self, system: str, transport: str, sampler: str | None = None) -> Running | None:
        if system not in self.wanted or system in self.skipped:
            return None
        key = f"{system}-{transport}" + (f"+{sampler}" if sampler else "")
        if key in self.skipped:
            return None
        try:
            if system == "floor":
                return targets.start_floor(transport)
            if system == "raw":
                return targets.start_raw(transport)
            if system == "ours":
                return targets.start_ours(transport, sampler)
            if system == "rotel":
                return targets.start_rotel(transport)
        except Unavailable as exc:
            log(f"  !! {key} not measured: {exc}")
            lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
            self.skipped[key] = " ... ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else "failed"
            return None
        raise ValueError(system)

    def why(self, system: str, transport: str, sampler: str | None = None) -> str:
        key = f"{system}-{transport}" + (f"+{sampler}" if sampler else "")
        return self.skipped.get(system) or self.skipped.get(key) or "not run"


def endpoint(run: Running, transport: str) -> str:
    return run.grpc_endpoint if transport == "grpc" else run.http_endpoint


def fixed_step(
    systems: Systems,
    system: str,
    transport: str,
    rate: int,
    spr: int,
    s: Settings,
    use_gzip: bool = False,
    sampler: str | None = None,
) -> Step | None:
    run = systems.start(system, transport, sampler)
    if run is None:
        return None
    lg = None
    try:
        lg = LoadGen(transport, endpoint(run, transport), spr, use_gzip)
        step = run_step(run, lg, rate, s.measure_time, s.warmup)
        log(describe(step))
        return step
    except (Unavailable, RuntimeError, TimeoutError, EOFError) as exc:
        log(f"  !! {run.name}: {exc}")
        return None
    finally:
        if lg:
            lg.close()
        run.stop()


def search_max(
    systems: Systems,
    system: str,
    transport: str,
    spr: int,
    s: Settings,
    use_gzip: bool = False,
    sampler: str | None = None,
) -> Search:
    result = Search(system, transport, use_gzip, sampler, spr)
    run = systems.start(system, transport, sampler)
    if run is None:
        result.error = systems.why(system, transport, sampler)
        return result
    lg = None
    try:
        lg = LoadGen(transport, endpoint(run, transport), spr, use_gzip)
        # Reference step at a fixed rate: warms the process up, gives CPU at equal load.
        ref = run_step(run, lg, s.ref_rate, s.step_time, s.step_warmup)
        log(describe(ref))
        result.reference = ref
        result.steps.append(ref)
        if ref.ok:
            result.max_rate, result.best = s.ref_rate, ref
        else:
            wait_settled(run)
        probe = run_step(run, lg, None, s.probe_time, s.step_warmup, max_inflight=s.probe_inflight)
        log(describe(probe))
        result.steps.append(probe)
        wait_settled(run)
        estimate = min(probe.load["acked_spans_per_s"], probe.window_delivered_rate or float("inf"))
        if run.sampled:
            estimate = probe.load["acked_spans_per_s"]
        rate = nice(0.9 * estimate)
        if result.max_rate and rate <= result.max_rate:
            rate = nice(result.max_rate * 1.2)  # the reference rate already passed: look above it
        passed = False
        ups = downs = 0
        while rate > 0:
            step = run_step(run, lg, rate, s.step_time, s.step_warmup)
            log(describe(step))
            result.steps.append(step)
            if step.ok:
                if result.max_rate is None or rate > result.max_rate:
                    result.max_rate, result.best = rate, step
                passed = True
                if ups >= s.up_steps:
                    break
                ups += 1
                rate = nice(rate * 1.2)
            else:
                result.lowest_failed = rate if result.lowest_failed is None else min(rate, result.lowest_failed)
                wait_settled(run)
                if passed or downs >= s.down_steps:
                    break
                downs += 1
                rate = nice(rate * 0.75)
                if result.max_rate and rate <= result.max_rate:
                    break
    except (Unavailable, RuntimeError, TimeoutError, EOFError) as exc:
        log(f"  !! {run.name}: {exc}")
        result.error = str(exc).splitlines()[0]
    finally:
        if lg:
            lg.close()
        run.stop()
    return result


# -- formatting ------------------------------------------------------------------


def fmt(value, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def ratio(a, b) -> str:
    if a is None or b is None or not b:
        return "n/a"
    return f"{a / b:.2f}x"


LOADGEN_BOUND_PCT = 65.0  # its event loop is then the bottleneck (one thread does the sending)


def loadgen_bound(search: Search) -> bool:
    """The closed-loop probe was limited by the load generator's own CPU."""
    return any(st.rate is None and st.load.get("loadgen_cpu_pct", 0) >= LOADGEN_BOUND_PCT for st in search.steps)


def rate_str(search: Search | None) -> str:
    if search is None:
        return "n/a"
    if search.max_rate is None:
        if search.error:
            return "n/a"
        return f"< {search.lowest_failed:,}" if search.lowest_failed else "none"
    return f"{search.max_rate:,}" + (" (LG)" if loadgen_bound(search) else "")


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def machine_busy() -> str:
    """How busy the machine is before we start (other work skews every figure)."""
    busy = psutil.cpu_percent(interval=1.0)
    load = os.getloadavg()
    note = f"Machine busy before the run: {busy:.0f}% of all cores, load average {load[0]:.2f} / {load[1]:.2f}"
    if busy > 15:
        note += " -- other work is running; figures will be noisy"
    return note


def machine_line() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import grpc
    import uvicorn

    parts = [
        model,
        f"{os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"grpcio {grpc.__version__}",
        f"uvicorn {uvicorn.__version__}",
        f"rotel {targets.rotel_version() or 'not installed'}",
        platform.platform(terse=True),
    ]
    return "Machine: " + ", ".join(parts)


# -- scenarios -------------------------------------------------------------------

CPU_LOADS = [("grpc", 10_000, 100), ("http", 10_000, 100), ("grpc", 100_000, 1000)]
VARIANTS = {  # name -> (transport, gzip, sampler)
    "http": ("http", False, None),
    "grpc-gzip": ("grpc", True, None),
    "http-gzip": ("http", True, None),
    "probabilistic": ("grpc", False, "probabilistic"),
    "tail": ("grpc", False, "tail"),
}


def scenario_cpu(systems: Systems, s: Settings, loads, report: dict) -> str:
    rows = []
    for transport, rate, spr in loads:
        log(f"== cpu: {transport} {rate:,} spans/s in {spr}-span requests")
        steps = {name: fixed_step(systems, name, transport, rate, spr, s) for name in ("floor", "ours", "rotel")}
        report.setdefault("cpu", []).append(
            {k: asdict(v) if v else None for k, v in steps.items()}
            | {"transport": transport, "rate": rate, "spans_per_request": spr}
        )
        floor, ours, rotel = steps["floor"], steps["ours"], steps["rotel"]

        def cpu(step):
            return step.cpu_pct if step else None

        def rss(step):
            return f"{step.rss_avg_mib:.0f} / {step.rss_peak_mib:.0f}" if step else "n/a"

        def loss(step):
            return "n/a" if step is None else ("none" if step.ok else "; ".join(step.reasons))

        def lat(step):
            return f"{step.load['latency_ms_p50']} / {step.load['latency_ms_p99']}" if step else "n/a"

        rows.append(
            [
                f"OTLP/{transport} {rate // 1000}k spans/s x{spr}",
                fmt(cpu(floor)),
                fmt(cpu(ours)),
                ratio(cpu(ours), cpu(floor)),
                fmt(cpu(rotel)),
                ratio(cpu(ours), cpu(rotel)),
                rss(ours),
                rss(rotel),
                rss(floor),
                lat(ours),
                lat(rotel),
                lat(floor),
                loss(ours),
                loss(rotel),
            ]
        )
    return table(
        [
            "load",
            "floor CPU %",
            "ours CPU %",
            "ours/floor",
            "rotel CPU %",
            "ours/rotel",
            "ours RSS avg/peak MiB",
            "rotel RSS avg/peak MiB",
            "floor RSS avg/peak MiB",
            "ours ack p50/p99 ms",
            "rotel ack p50/p99 ms",
            "floor ack p50/p99 ms",
            "ours loss",
            "rotel loss",
        ],
        rows,
    )


def cached_search(
    cache: dict,
    systems: Systems,
    system: str,
    transport: str,
    spr: int,
    s: Settings,
    use_gzip: bool = False,
    sampler: str | None = None,
) -> Search | None:
    if system not in systems.wanted:
        return None
    key = (system, transport, use_gzip, sampler, spr)
    if key not in cache:
        label = f"{system} {transport}{' gzip' if use_gzip else ''}{' +' + sampler if sampler else ''} x{spr}"
        log(f"-- max sustained: {label}")
        cache[key] = search_max(systems, system, transport, spr, s, use_gzip, sampler)
        found = cache[key]
        log(f"   => {rate_str(found)} spans/s" + (f" ({found.error})" if found.error else ""))
    return cache[key]


def us_per_span(search: Search | None) -> float | None:
    return search.best.cpu_us_per_span if search and search.best else None


def scenario_throughput(systems: Systems, s: Settings, sizes, cache: dict, report: dict) -> str:
    rows = []
    for spr in sizes:
        log(f"== throughput: OTLP/gRPC, {spr} spans per request")
        raw = cached_search(cache, systems, "raw", "grpc", spr, s)
        ours = cached_search(cache, systems, "ours", "grpc", spr, s)
        rotel = cached_search(cache, systems, "rotel", "grpc", spr, s)
        rows.append(
            [
                str(spr),
                rate_str(raw),
                rate_str(ours),
                ratio(ours and ours.max_rate, raw and raw.max_rate),
                rate_str(rotel),
                ratio(ours and ours.max_rate, rotel and rotel.max_rate),
                fmt(us_per_span(ours), 2),
                fmt(us_per_span(rotel), 2),
                fmt(us_per_span(raw), 2),
                fmt(ours.best.cpu_pct if ours and ours.best else None),
                fmt(rotel.best.cpu_pct if rotel and rotel.best else None),
            ]
        )
    return table(
        [
            "spans/request",
            "raw sink max spans/s",
            "ours max spans/s",
            "ours/raw",
            "rotel max spans/s",
            "ours/rotel",
            "ours CPU us/span @max",
            "rotel CPU us/span @max",
            "raw CPU us/span @max",
            "ours CPU % @max",
            "rotel CPU % @max",
        ],
        rows,
    )


def scenario_variants(systems: Systems, s: Settings, names, sizes, cache: dict, report: dict) -> str:
    rows = []
    for spr in sizes:
        plain = cached_search(cache, systems, "ours", "grpc", spr, s)
        plain_ref = plain.reference.cpu_pct if plain and plain.reference and plain.reference.ok else None
        for name in names:
            transport, use_gzip, sampler = VARIANTS[name]
            log(f"== variant {name}, {spr} spans per request")
            ours = cached_search(cache, systems, "ours", transport, spr, s, use_gzip, sampler)
            raw = cached_search(cache, systems, "raw", transport, spr, s, use_gzip)
            rotel = None if sampler else cached_search(cache, systems, "rotel", transport, spr, s, use_gzip)
            ref = ours.reference if ours else None
            ref_cpu = ref.cpu_pct if ref and ref.ok else None
            kept = f"{ref.delivered / ref.acked:.2f}" if ref and ref.acked and ref.ok else "n/a"
            rows.append(
                [
                    name,
                    str(spr),
                    fmt(ref_cpu),
                    ratio(ref_cpu, plain_ref),
                    rate_str(ours),
                    rate_str(raw),
                    ratio(ours and ours.max_rate, raw and raw.max_rate),
                    rate_str(rotel) if not sampler else "no sampler",
                    ratio(ours and ours.max_rate, rotel and rotel.max_rate) if not sampler else "n/a",
                    ratio(plain and plain.max_rate, ours and ours.max_rate) if sampler else "n/a",
                    kept,
                ]
            )
    return table(
        [
            "variant",
            "spans/request",
            f"ours CPU % @{s.ref_rate // 1000}k/s",
            "vs plain gRPC",
            "ours max spans/s",
            "raw sink max (same transport)",
            "ours/raw",
            "rotel max spans/s",
            "ours/rotel",
            "plain max / this max",
            "kept fraction",
        ],
        rows,
    )


# Go Collector load-test ratios to its own OTLP/gRPC at 10k spans/s (contrib data.js: 10.6 / 6.2 %)
GO_LEGACY_RATIOS = {
    "jaeger_grpc": 1.7,
    "opencensus": 1.8,
    "zipkin_json": 4.1,
}  # contrib data.js: 11.1 / 6.2 %, 25.7 / 6.2 %
LEGACY_RATE, LEGACY_SPANS_PER_REQUEST = 10_000, 100


def scenario_legacy(systems: Systems, s: Settings, protocols, report: dict) -> str:
    import legacy_load

    log(f"== legacy: baseline OTLP/gRPC {LEGACY_RATE:,} spans/s x{LEGACY_SPANS_PER_REQUEST}")
    base = fixed_step(systems, "ours", "grpc", LEGACY_RATE, LEGACY_SPANS_PER_REQUEST, s)
    base_cpu = base.cpu_pct if base and base.ok else None
    steps = {"otlp_grpc": base}
    for protocol in protocols:
        log(f"== legacy: {protocol} {LEGACY_RATE:,} spans/s x{LEGACY_SPANS_PER_REQUEST}")
        run = lg = step = None
        try:
            run = legacy_load.start_ours_legacy(protocol)
            lg = legacy_load.LegacyLoad(protocol, run.grpc_endpoint, LEGACY_SPANS_PER_REQUEST)
            step = run_step(run, lg, LEGACY_RATE, s.measure_time, s.warmup)
            log(describe(step))
        except (Unavailable, RuntimeError, TimeoutError, EOFError, OSError) as exc:
            log(f"  !! {protocol}: {exc}")
        finally:
            if lg:
                lg.close()
            if run:
                run.stop()
        steps[protocol] = step
    report["legacy"] = {k: asdict(v) if v else None for k, v in steps.items()}
    rows = []
    for name, step in steps.items():
        cpu = step.cpu_pct if step else None
        go = GO_LEGACY_RATIOS.get(name, 1.0 if name == "otlp_grpc" else None)
        rows.append(
            [
                name,
                fmt(cpu),
                ratio(cpu, base_cpu),
                f"{go:.1f}x" if go else "n/a",
                f"{step.rss_avg_mib:.0f} / {step.rss_peak_mib:.0f}" if step else "n/a",
                f"{step.delivered:,} / {step.sent:,}" if step else "n/a",
                "n/a" if step is None else ("ok" if step.ok else "; ".join(step.reasons)),
            ]
        )
    return table(
        [
            "protocol",
            "ours CPU %",
            "vs our OTLP/gRPC",
            "Go Collector ratio",
            "RSS avg/peak MiB",
            "delivered / sent spans",
            "status",
        ],
        rows,
    )


def target_checks(report: dict, cache: dict, s: Settings) -> str:
    """The issue's targets, each PASS / FAIL / n/a with the measured value."""
    lines = []

    def check(label, value, ok):
        state = "n/a" if value is None else ("PASS" if ok else "FAIL")
        lines.append(f"- [{state}] {label}: {value if value is not None else 'not measured'}")

    cpu_rows = [r for r in report.get("cpu", []) if r["transport"] == "grpc" and r["spans_per_request"] == 100]
    if cpu_rows:
        r = cpu_rows[0]
        floor, ours, rotel = r["floor"], r["ours"], r["rotel"]
        if ours and floor:
            v = ours["cpu_pct"] / floor["cpu_pct"] if floor["cpu_pct"] else None
            check("(1) CPU <= 1.3x do-nothing gRPC floor at 10k spans/s x100", v and f"{v:.2f}x", v and v <= 1.3)
        if ours and rotel:
            v = ours["cpu_pct"] / rotel["cpu_pct"] if rotel["cpu_pct"] else None
            check("(1) CPU <= 2x rotel at 10k spans/s x100", v and f"{v:.2f}x", v and v <= 2)
        if ours:
            check(
                "(1) RSS <= 80 MiB at 10k spans/s x100 (avg / peak)",
                f"{ours['rss_avg_mib']:.0f} / {ours['rss_peak_mib']:.0f} MiB",
                ours["rss_peak_mib"] <= 80,
            )
    for spr in (100, 1000):
        ours = cache.get(("ours", "grpc", False, None, spr))
        raw = cache.get(("raw", "grpc", False, None, spr))
        rotel = cache.get(("rotel", "grpc", False, None, spr))
        if ours and raw and ours.max_rate and raw.max_rate:
            v = ours.max_rate / raw.max_rate
            check(f"(2) max sustained >= 0.5x raw sink at {spr} spans/request", f"{v:.2f}", v >= 0.5)
        if spr == 1000 and ours:
            check(
                "(2) >= 300k spans/s from one process at 1000 spans/request",
                f"{ours.max_rate:,}" if ours.max_rate else None,
                (ours.max_rate or 0) >= 300_000,
            )
            a, b = us_per_span(ours), us_per_span(rotel)
            if a is not None and b is not None:
                check(
                    "(2) less CPU per span than rotel at 1000 spans/request (at each one's max)",
                    f"{a:.2f} vs {b:.2f} us/span",
                    a < b,
                )
    for spr in (100, 1000):
        plain = cache.get(("ours", "grpc", False, None, spr))
        for sampler in targets.SAMPLERS:
            ours = cache.get(("ours", "grpc", False, sampler, spr))
            if not (plain and ours and plain.reference and ours.reference and plain.reference.ok and ours.reference.ok):
                continue
            extra = ours.reference.cpu_pct / plain.reference.cpu_pct - 1
            check(
                f"(3) {sampler} sampling adds <= 30% CPU at {s.ref_rate // 1000}k spans/s x{spr}",
                f"{extra * 100:+.0f}%",
                extra <= 0.30,
            )
            if ours.max_rate and plain.max_rate:
                drop = 1 - ours.max_rate / plain.max_rate
                check(
                    f"(3) {sampler} sampling costs <= 30% of max throughput x{spr}",
                    f"{drop * 100:.0f}% lower",
                    drop <= 0.30,
                )
    return "\n".join(lines) if lines else "- no target could be evaluated"


# -- sequential sender ------------------------------------------------------------

SEQ_TRANSPORTS = ("grpc", "http")


@dataclass
class SeqRow:
    """One sequential sender (max_inflight=1, closed loop) against one system."""

    transport: str
    spans_per_request: int
    system: str  # floor, rotel or ours:<config>
    status: str = "ok"  # ok | unsupported | failed | not run
    reason: str | None = None
    acked_spans_per_s: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    requests: int = 0
    sent: int = 0
    acked: int = 0  # in the measured window
    errors: dict = field(default_factory=dict)
    collector_losses: int | None = None  # our loss/refusal counters, warm-up + window
    delivery: str = "n/a"  # checked | file | no sink
    acked_total: int = 0  # warm-up + window
    delivered: int | None = None  # of acked_total
    cpu_pct: float | None = None  # system under test, measured window
    load: dict = field(default_factory=dict)
    warmup_load: dict = field(default_factory=dict)

    @property
    def missing(self) -> int | None:
        if self.delivered is None:
            return None
        return max(0, self.acked_total - self.delivered)


def start_sequential_system(systems: Systems, system: str, transport: str) -> Running:
    if system == "floor":
        return targets.start_floor(transport)
    if system == "rotel":
        return targets.start_rotel(transport)
    return targets.start_ours_config(system.partition(":")[2], transport)


def measure_sequential(run: Running, lg: LoadGen, row: SeqRow, s: Settings) -> None:
    if not run.alive():
        raise Unavailable(f"{run.name} is no longer running")
    ep = endpoint(run, row.transport)
    base = run.delivered()
    metrics0 = targets.scrape(run.metrics_url)
    lg.start(None, s.seq_warmup, 1, endpoint=ep)  # warm-up: connection, code paths; not counted
    warm = lg.result()
    mon = Monitor(run.pid).start()
    lg.start(s.seq_rate, s.seq_time, 1, endpoint=ep)
    res = lg.result()
    row.cpu_pct = round(mon.stop()[0], 1)
    row.warmup_load, row.load = warm, res
    row.acked_spans_per_s = res["acked_spans_per_s"]
    row.latency_ms_p50, row.latency_ms_p99 = res["latency_ms_p50"], res["latency_ms_p99"]
    row.requests, row.sent, row.acked = res["sent_requests"], res["sent_spans"], res["acked_spans"]
    errors: dict = {}
    for r in (warm, res):
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    row.errors = errors
    row.acked_total = warm["acked_spans"] + res["acked_spans"]
    if run.counter is None:
        row.delivery = "no sink"
    else:
        row.delivery = "file" if isinstance(run.counter, targets.FileSpanCounter) else "checked"
        row.delivered = drain(run, base, row.acked_total, 5.0)
        if row.delivered < row.acked_total:
            wait_settled(run, 3.0)  # keep late spans out of the next row
    metrics1 = targets.scrape(run.metrics_url)
    if metrics0 is not None and metrics1 is not None:
        row.collector_losses = targets.losses(metrics1) - targets.losses(metrics0)
    if not run.alive():
        row.status, row.reason = "failed", "process died"


def describe_seq(row: SeqRow) -> str:
    head = f"    {row.transport:<4} x{row.spans_per_request:<5} {row.system:<22}"
    if row.status != "ok" and row.acked_spans_per_s is None:
        return f"{head} {row.status}: {row.reason}"
    deliv = "" if row.delivered is None else f"  delivered {row.delivered:,}/{row.acked_total:,}"
    return (
        f"{head} {row.acked_spans_per_s:>9,.0f} spans/s  {row.requests:>5} requests  "
        f"p50 {row.latency_ms_p50} ms  p99 {row.latency_ms_p99} ms  cpu {row.cpu_pct}%  "
        f"errors {row.errors or 0}  losses {row.collector_losses}{deliv}  "
        f"loadgen {row.load.get('loadgen_cpu_pct')}%" + (f"  {row.status}: {row.reason}" if row.reason else "")
    )


def scenario_sequential(systems: Systems, s: Settings, sizes, configs, transports, report: dict) -> str:
    order = []
    if "floor" in systems.wanted:
        order.append("floor")
    if "rotel" in systems.wanted:
        order.append("rotel")
    if "ours" in systems.wanted:
        order += [f"ours:{c}" for c in configs]
    rows: dict[tuple, SeqRow] = {}
    for transport in transports:
        lgs: dict[int, LoadGen] = {}
        try:
            for system in order:
                log(f"== sequential: one sender, OTLP/{transport}, {system}")
                for spr in sizes:
                    rows[(transport, spr, system)] = SeqRow(transport, spr, system)
                skip_why = systems.skipped.get(system.partition(":")[0])
                if skip_why:
                    for spr in sizes:
                        rows[(transport, spr, system)].status = "not run"
                        rows[(transport, spr, system)].reason = skip_why
                    continue
                try:
                    run = start_sequential_system(systems, system, transport)
                except Unavailable as exc:
                    status = "unsupported" if isinstance(exc, targets.Unsupported) else "failed"
                    lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
                    reason = " ... ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else "failed"
                    log(f"  !! {system} over {transport}: {status}: {reason}")
                    for spr in sizes:
                        rows[(transport, spr, system)].status = status
                        rows[(transport, spr, system)].reason = reason
                    continue
                try:
                    for spr in sizes:
                        row = rows[(transport, spr, system)]
                        try:
                            if spr not in lgs:
                                lgs[spr] = LoadGen(transport, endpoint(run, transport), spr, False, max_inflight=1)
                            measure_sequential(run, lgs[spr], row, s)
                        except (Unavailable, RuntimeError, TimeoutError, EOFError) as exc:
                            row.status, row.reason = "failed", str(exc).splitlines()[0]
                            if isinstance(exc, (TimeoutError, EOFError)) and spr in lgs:
                                lgs.pop(spr).close()  # out of step with us: start a fresh one
                        log(describe_seq(row))
                finally:
                    run.stop()
        finally:
            for lg in lgs.values():
                lg.close()
    report["sequential"] = [asdict(r) | {"missing": r.missing} for r in rows.values()]

    def errors_cell(row: SeqRow) -> str:
        parts = [f"{k} x{v}" for k, v in sorted(row.errors.items())]
        if row.collector_losses:
            parts.append(f"collector counted {row.collector_losses:,}")
        return ", ".join(parts) if parts else "0"

    def delivered_cell(row: SeqRow) -> str:
        if row.delivery == "no sink":
            return "n/a (no sink)"
        if row.delivered is None:
            return "n/a"
        missing = row.missing
        text = "all" if not missing else f"{missing:,} missing"
        return text + " (file)" if row.delivery == "file" else text

    table_rows = []
    notes: dict[tuple, list[str]] = {}  # (label, status, reason) -> where
    for transport in transports:
        for spr in sizes:
            rotel = rows.get((transport, spr, "rotel"))
            rotel_rate = rotel.acked_spans_per_s if rotel and rotel.status == "ok" else None
            for system in order:
                row = rows[(transport, spr, system)]
                label = system.partition(":")[2] if system.startswith("ours:") else system
                if row.status != "ok":
                    where = notes.setdefault((label, row.status, row.reason), [])
                    if f"OTLP/{transport}" not in where:
                        where.append(f"OTLP/{transport}")
                if row.acked_spans_per_s is None:
                    cells = [f"{row.status} (see below)"] + ["n/a"] * 5
                else:
                    cells = [
                        f"{row.acked_spans_per_s:,.0f}",
                        fmt(row.latency_ms_p50, 2),
                        fmt(row.latency_ms_p99, 2),
                        ratio(row.acked_spans_per_s, rotel_rate) if system.startswith("ours:") else "-",
                        errors_cell(row),
                        delivered_cell(row),
                    ]
                    if row.status != "ok":
                        cells[-1] += f" ({row.status}, see below)"
                table_rows.append([f"OTLP/{transport}", str(spr), label, *cells])
    text = table(
        [
            "transport",
            "spans/request",
            "system / config",
            "acked spans/s",
            "ack p50 ms",
            "ack p99 ms",
            "ours/rotel rate",
            "errors / refusals",
            "delivered",
        ],
        table_rows,
    )
    if notes:
        text += "\n\n" + "\n".join(
            f"- `{label}` ({', '.join(where)}): {status}: {reason}" for (label, status, reason), where in notes.items()
        )
    return text


# -- SDK senders ------------------------------------------------------------------

SDK_SENDERS = ("official-grpc", "lite-grpc", "lite-http")  # benchmarks/sdk_senders.py
SDK_TARGETS = ("default", "batch-persistent", "rotel", "raw")
SDK_RATES = (10_000, 20_000)
SDK_SENDER_HELP = {
    "official-grpc": "opentelemetry-sdk `BatchSpanProcessor()` + the official OTLP/gRPC exporter",
    "lite-grpc": "otel_lite `BatchSpanProcessor` + otel_lite's OTLP/gRPC exporter",
    "lite-http": "otel_lite `BatchSpanProcessor` + otel_lite's OTLP/HTTP (protobuf) exporter",
}
SDK_TARGET_HELP = {
    "default": "ours, " + targets.SDK_CONFIG_HELP["default"] + "; delivered = `spanId`s in the file exporter's "
    "JSON lines",
    "batch-persistent": "ours, " + targets.SDK_CONFIG_HELP["batch-persistent"] + " -> counting sink",
    "rotel": "rotel with its default config -> counting sink",
    "raw": "the counting sink alone (gRPC or HTTP as the sender speaks): the floor, an instant collector",
}


@dataclass
class SdkRow:
    """One SDK sender process at one rate against one freshly started target."""

    sender: str
    rate: int
    target: str
    status: str = "ok"  # ok | unsupported | failed | not run
    reason: str | None = None
    started: int | None = None
    achieved_spans_per_s: float | None = None
    dropped: int | None = None  # by the SDK's BatchSpanProcessor (queue full)
    export_failed_spans: int | None = None
    delivered: int | None = None  # at the output, the sender's warm-up span excluded
    exports: int | None = None
    export_ms_p50: float | None = None
    export_ms_p99: float | None = None
    sender_cpu_pct: float | None = None
    target_cpu_pct: float | None = None  # over the sender process's lifetime
    collector_losses: int | None = None  # our loss/refusal counters
    wall_s: float | None = None  # the sender process, start to exit
    result: dict = field(default_factory=dict)  # the sender's JSON line

    @property
    def unaccounted(self) -> int | None:
        """started - dropped - failed - delivered: > 0 lost without being counted, < 0 counted twice."""
        if None in (self.started, self.dropped, self.delivered):
            return None
        return self.started - self.dropped - (self.export_failed_spans or 0) - self.delivered


def sender_transport(sender: str) -> str:
    return sender.rpartition("-")[2]


def start_sdk_target(target: str, transport: str) -> Running:
    if target == "raw":
        return targets.start_raw(transport)
    if target == "rotel":
        return targets.start_rotel(transport)
    return targets.start_ours_config(target, transport)


def run_sender(sender: str, ep: str, rate: int, seconds: float, flush_timeout: float = 60.0) -> tuple[dict, float]:
    """benchmarks/sdk_senders.py in its own process; its JSON line and wall time."""
    cmd = [
        sys.executable,
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk_senders.py"),
        "--sender",
        sender,
        "--endpoint",
        ep,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--flush-timeout",
        str(flush_timeout),
    ]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=4 * seconds + flush_timeout + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError("sender did not finish in time") from None
    wall = time.monotonic() - t0
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = [x for x in (proc.stderr or proc.stdout).strip().splitlines() if x.strip()][-1:]
        raise RuntimeError(f"sender exited {proc.returncode}: {' '.join(tail) or 'no output'}")
    return json.loads(lines[-1]), wall


def drain_output(run: Running, base: int, expected: int, timeout: float = 30.0, quiet: float = 3.0) -> int:
    """Spans at the output since ``base``, once ``expected`` arrived and the count held
    still for a moment (later duplicates or uncounted spans show up too), or nothing
    new arrived for ``quiet`` s (+ the output's settle time), or ``timeout``."""
    hold = max(0.5, run.settle_time)
    quiet += run.settle_time
    deadline = time.monotonic() + timeout + run.settle_time
    last, last_change = None, time.monotonic()
    while True:
        got = run.delivered() - base
        now = time.monotonic()
        if got != last:
            last, last_change = got, now
        still = now - last_change
        if (got >= expected and still >= hold) or still >= quiet or now >= deadline:
            return got
        time.sleep(0.1)


def measure_sdk(row: SdkRow, s: Settings) -> None:
    transport = sender_transport(row.sender)
    run = start_sdk_target(row.target, transport)
    try:
        base = run.delivered()
        metrics0 = targets.scrape(run.metrics_url)
        mon = Monitor(run.pid).start()
        res, wall = run_sender(row.sender, endpoint(run, transport), row.rate, s.sdk_time)
        row.target_cpu_pct = round(mon.stop()[0], 1)
        row.result, row.wall_s = res, round(wall, 2)
        row.started, row.achieved_spans_per_s = res["started"], res["achieved_spans_per_s"]
        row.dropped, row.export_failed_spans = res["dropped"], res["export_failed_spans"]
        row.exports, row.export_ms_p50, row.export_ms_p99 = res["exports"], res["export_ms_p50"], res["export_ms_p99"]
        row.sender_cpu_pct = res["cpu_pct"]
        warm = res.get("warmup_spans", 0)
        expected = res["started"] + warm - (res["dropped"] or 0) - res["export_failed_spans"]
        row.delivered = drain_output(run, base, expected) - warm
        metrics1 = targets.scrape(run.metrics_url)
        if metrics0 is not None and metrics1 is not None:
            row.collector_losses = targets.losses(metrics1) - targets.losses(metrics0)
        problems = []
        if not res["flushed"]:
            problems.append("force_flush timed out")
        if res["dropped"] is None:
            problems.append("the SDK dropped spans but its drop counter was not found")
        if not run.alive():
            problems.append(f"{run.name} died")
        if problems:
            row.status, row.reason = "failed", "; ".join(problems)
    finally:
        run.stop()


def describe_sdk(row: SdkRow) -> str:
    head = f"    {row.sender:<14} {row.rate:>6,}/s -> {row.target:<17}"
    if row.started is None:
        return f"{head} {row.status}: {row.reason}"
    return (
        f"{head} achieved {row.achieved_spans_per_s:>9,.0f}/s  started {row.started:,}  dropped {row.dropped}  "
        f"export-failed {row.export_failed_spans}  delivered {row.delivered:,}  unaccounted {row.unaccounted}  "
        f"exports {row.exports} p50 {row.export_ms_p50} ms p99 {row.export_ms_p99} ms  "
        f"sender cpu {row.sender_cpu_pct}%  target cpu {row.target_cpu_pct}%  losses {row.collector_losses}  "
        f"wall {row.wall_s} s" + (f"  {row.status}: {row.reason}" if row.reason else "")
    )


def scenario_sdk(systems: Systems, s: Settings, senders, sdk_targets, rates, report: dict) -> str:
    system_of = {"default": "ours", "batch-persistent": "ours", "rotel": "rotel", "raw": "raw"}
    rows: dict[tuple, SdkRow] = {}
    refused: dict[tuple, tuple] = {}  # (target, transport) -> (status, reason): not retried
    for rate in rates:
        for sender in senders:
            log(f"== sdk: {sender} at {rate:,} spans/s, {s.sdk_time:g} s")
            for target in sdk_targets:
                row = rows[(sender, rate, target)] = SdkRow(sender, rate, target)
                system = system_of[target]
                key = (target, sender_transport(sender))
                if system not in systems.wanted:
                    row.status, row.reason = "not run", f"--systems has no {system}"
                elif system in systems.skipped:
                    row.status, row.reason = "not run", systems.skipped[system]
                elif key in refused:
                    row.status, row.reason = refused[key]
                else:
                    try:
                        measure_sdk(row, s)
                    except Unavailable as exc:
                        status = "unsupported" if isinstance(exc, targets.Unsupported) else "failed"
                        lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
                        row.status = status
                        row.reason = " ... ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else "failed"
                        refused[key] = (row.status, row.reason)
                    except (RuntimeError, TimeoutError, EOFError, OSError, ValueError, KeyError) as exc:
                        row.status, row.reason = "failed", (str(exc).splitlines() or [repr(exc)])[0]
                log(describe_sdk(row))
    report["sdk"] = [asdict(r) | {"unaccounted": r.unaccounted} for r in rows.values()]

    notes: dict[tuple, list[str]] = {}

    def note(row: SdkRow) -> None:
        if row.status != "ok":
            where = notes.setdefault((row.target, row.status, row.reason), [])
            if row.sender not in where:
                where.append(row.sender)

    def main_cell(row: SdkRow) -> str:
        note(row)
        if row.started is None:
            return f"{row.status} (see below)"
        delivered = "all" if row.delivered == row.started else f"{row.delivered:,}"
        text = f"{row.dropped:,} / {delivered}" if row.dropped is not None else f"? / {delivered}"
        extra = []
        if row.export_failed_spans:
            extra.append(f"{row.export_failed_spans:,} in failed exports")
        off = row.unaccounted
        if off:
            extra.append(f"{off:,} unaccounted" if off > 0 else f"{-off:,} over")
        if row.status != "ok":
            extra.append(f"{row.status}, see below")
        return text + (f" ({'; '.join(extra)})" if extra else "")

    def sender_cell(row: SdkRow) -> str:
        if row.started is None:
            return "n/a"
        return (
            f"{row.achieved_spans_per_s:,.0f}/s, {fmt(row.export_ms_p50)} / {fmt(row.export_ms_p99)} ms, "
            f"{fmt(row.sender_cpu_pct, 0)}%"
        )

    main_rows, side_rows = [], []
    for sender in senders:
        for rate in rates:
            cells = [rows[(sender, rate, t)] for t in sdk_targets]
            started = next((str(f"{c.started:,}") for c in cells if c.started is not None), "n/a")
            main_rows.append([sender, f"{rate:,}", started] + [main_cell(c) for c in cells])
            side_rows.append([sender, f"{rate:,}"] + [sender_cell(c) for c in cells])
    text = table(["sender", "spans/s", "started"] + [f"{t}: dropped / delivered" for t in sdk_targets], main_rows)
    if notes:
        text += "\n\n" + "\n".join(
            f"- `{target}` ({', '.join(where)}): {status}: {reason}"
            for (target, status, reason), where in notes.items()
        )
    text += (
        "\n\nSender side, per target: achieved production rate, export call p50 / p99 (ms, one export of up "
        "to 512 spans at a time), the sender process's CPU (% of one core over production + flush):\n\n"
    )
    text += table(["sender", "spans/s", *sdk_targets], side_rows)
    return text


# -- main ------------------------------------------------------------------------


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def preflight_ours(command: list[str]) -> str | None:
    """None if our collector's CLI answers, else why not."""
    try:
        res = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30, cwd=str(targets.REPO))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{shlex.join(command)} --help failed: {exc}"
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return f"{shlex.join(command)} --help exited {res.returncode}: {' | '.join(tail)}"
    return None


def settings(quick: bool, args) -> Settings:
    if quick:
        s = Settings(
            True,
            measure_time=4,
            warmup=1.5,
            probe_time=2.5,
            step_time=2.5,
            step_warmup=0.5,
            up_steps=0,
            down_steps=2,
            ref_rate=20_000,
            probe_inflight=128,
        )
    else:
        s = Settings(
            False,
            measure_time=10,
            warmup=3,
            probe_time=4,
            step_time=4,
            step_warmup=1,
            up_steps=1,
            down_steps=3,
            ref_rate=20_000,
            probe_inflight=128,
        )
    if args.measure_seconds:
        s.measure_time = args.measure_seconds
    if args.step_seconds:
        s.step_time = args.step_seconds
    if args.ref_rate:
        s.ref_rate = args.ref_rate
    if quick:
        s.seq_time, s.seq_warmup = 3.0, 0.5
    if args.sequential_seconds:
        s.seq_time = args.sequential_seconds
    if args.sequential_rate:
        s.seq_rate = args.sequential_rate
    if args.sequential_warmup is not None:
        s.seq_warmup = args.sequential_warmup
    if quick:
        s.sdk_time = 2.0
    if args.sdk_seconds:
        s.sdk_time = args.sdk_seconds
    return s


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short steps, cpu + throughput + sequential only (~4 minutes)")
    p.add_argument(
        "--scenarios",
        type=csv,
        help="cpu,throughput,variants,legacy,sequential,sdk (default: all; --quick: cpu,throughput,sequential)",
    )
    p.add_argument(
        "--legacy",
        type=csv,
        default=None,
        help="legacy protocols for the legacy scenario (default: all in legacy_load.PROTOCOLS)",
    )
    p.add_argument(
        "--systems", type=csv, default=["floor", "raw", "ours", "rotel"], help="systems to run: floor,raw,ours,rotel"
    )
    p.add_argument("--sizes", type=csv, default=["100", "1000"], help="spans per request for throughput")
    p.add_argument("--variants", type=csv, default=list(VARIANTS), help=",".join(VARIANTS))
    p.add_argument("--variant-sizes", type=csv, default=["1000"], help="spans per request for variants")
    p.add_argument(
        "--cpu-loads",
        type=csv,
        help="fixed loads as transport:spans_per_s:spans_per_request, "
        "default grpc:10000:100,http:10000:100,grpc:100000:1000 (--quick: the first)",
    )
    p.add_argument("--collector-cmd", help="command starting our collector (default: python -m otel_lite.collector)")
    p.add_argument("--measure-seconds", type=float, help="cpu scenario measurement window")
    p.add_argument("--step-seconds", type=float, help="length of each throughput step")
    p.add_argument("--ref-rate", type=int, help="fixed rate (spans/s) of the reference step of each search")
    p.add_argument(
        "--sequential-sizes",
        type=csv,
        default=["100", "1000"],
        help="spans per request for the sequential scenario (default 100,1000)",
    )
    p.add_argument(
        "--sequential-configs",
        type=csv,
        default=list(targets.SEQUENTIAL_CONFIGS),
        help="our configs in the sequential scenario: " + ",".join(targets.SEQUENTIAL_CONFIGS),
    )
    p.add_argument(
        "--sequential-transports",
        type=csv,
        default=list(SEQ_TRANSPORTS),
        help="transports of the sequential scenario (default grpc,http)",
    )
    p.add_argument(
        "--sequential-rate",
        type=float,
        help="sequential scenario: offer this many spans/s (one request in flight at a time) "
        "instead of sending as fast as answers come; ack latency at a fixed load",
    )
    p.add_argument("--sequential-seconds", type=float, help="measured window per sequential row (default 5; --quick 3)")
    p.add_argument(
        "--sequential-warmup",
        type=float,
        help="warm-up before each sequential row, not counted (default 1; --quick 0.5)",
    )
    p.add_argument(
        "--sdk-senders",
        type=csv,
        default=list(SDK_SENDERS),
        help="senders of the sdk scenario: " + ",".join(SDK_SENDERS),
    )
    p.add_argument(
        "--sdk-targets",
        type=csv,
        default=list(SDK_TARGETS),
        help="targets of the sdk scenario: " + ",".join(SDK_TARGETS),
    )
    p.add_argument(
        "--sdk-rates",
        type=csv,
        default=[str(r) for r in SDK_RATES],
        help="spans/s each sender produces in the sdk scenario (default 10000,20000)",
    )
    p.add_argument("--sdk-seconds", type=float, help="seconds of paced production per sdk run (default 4; --quick 2)")
    p.add_argument("--output", help="also write the Markdown report here")
    p.add_argument("--json", help="write every step's raw figures here")
    args = p.parse_args(argv)

    s = settings(args.quick, args)
    scenarios = args.scenarios or (
        ["cpu", "throughput", "sequential"]
        if args.quick
        else ["cpu", "throughput", "variants", "legacy", "sequential", "sdk"]
    )
    unknown = set(scenarios) - {"cpu", "throughput", "variants", "legacy", "sequential", "sdk"}
    unknown |= {f"sdk sender {x}" for x in set(args.sdk_senders) - set(SDK_SENDERS)}
    unknown |= {f"sdk target {x}" for x in set(args.sdk_targets) - set(SDK_TARGETS)}
    unknown |= {f"sequential config {x}" for x in set(args.sequential_configs) - set(targets.SEQUENTIAL_CONFIGS)}
    unknown |= {f"sequential transport {x}" for x in set(args.sequential_transports) - set(SEQ_TRANSPORTS)}
    unknown |= {f"system {x}" for x in set(args.systems) - {"floor", "raw", "ours", "rotel"}}
    unknown |= {f"variant {x}" for x in set(args.variants) - set(VARIANTS)}
    if unknown:
        p.error(f"unknown: {', '.join(sorted(unknown))}")
    try:
        sizes = [int(x) for x in args.sizes]
        seq_sizes = [int(x) for x in args.sequential_sizes]
        variant_sizes = [int(x) for x in args.variant_sizes]
        sdk_rates = [int(x) for x in args.sdk_rates]
        if args.cpu_loads:
            loads = [(t, int(r), int(n)) for t, r, n in (x.split(":") for x in args.cpu_loads)]
        else:
            loads = CPU_LOADS[:1] if args.quick else CPU_LOADS
    except ValueError as exc:
        p.error(str(exc))
    if any(t not in ("grpc", "http") for t, _, _ in loads):
        p.error("cpu load transport must be grpc or http")
    if args.collector_cmd:
        targets.collector_command = lambda: shlex.split(args.collector_cmd)

    # SIGTERM cleans up like Ctrl-C: every started process is stopped in finally blocks.
    signal.signal(signal.SIGTERM, _interrupt)

    systems = Systems(set(args.systems))
    if "ours" in systems.wanted:
        why = preflight_ours(targets.collector_command())
        if why:
            log(f"!! our collector is not runnable, skipping it: {why}")
            systems.skipped["ours"] = why
    if "rotel" in systems.wanted and not targets.rotel_binary():
        why = "rotel is not installed (pip install rotel, or pip install -e '.[bench]')"
        log(f"!! {why}; skipping rotel")
        systems.skipped["rotel"] = why

    started = time.monotonic()
    report: dict = {"machine": machine_line(), "busy": machine_busy(), "settings": asdict(s)}
    cache: dict = {}
    sections = [
        f"# otel-lite collector benchmark{' (quick)' if s.quick else ''}",
        "",
        report["machine"],
        "",
        report["busy"],
        "",
    ]
    try:
        if "cpu" in scenarios:
            sections += [
                "## (1) CPU and memory at a fixed load",
                "",
                f"CPU % of one core (user+system over a {s.measure_time:g} s window after "
                f"{s.warmup:g} s warm-up), RSS sampled every 0.5 s. Floor = do-nothing server "
                "on the same transport. Pipeline: otlp -> batch -> otlp_grpc -> counting sink.",
                "",
                scenario_cpu(systems, s, loads, report),
                "",
            ]
        if "throughput" in scenarios:
            sections += [
                "## (2) Maximum sustained throughput with zero loss, OTLP/gRPC",
                "",
                f"Fixed-rate steps of {s.step_time:g} s after a closed-loop probe; raw sink = a gRPC server "
                "that only parses and counts. The load generator shares the 2 cores: see its CPU in the "
                "step log (stderr).",
                "",
                scenario_throughput(systems, s, sizes, cache, report),
                "",
            ]
        if "variants" in scenarios:
            sections += [
                "## (3) Variants: HTTP receiver, gzip, sampling (50%)",
                "",
                f"CPU at a fixed {s.ref_rate:,} spans/s; 'vs plain' is relative to otlp -> batch -> "
                "otlp_grpc over gRPC at the same rate.",
                "",
                scenario_variants(systems, s, args.variants, variant_sizes, cache, report),
                "",
            ]
        if "legacy" in scenarios:
            import legacy_load

            sections += [
                "## (4) Legacy receivers: CPU at a fixed load",
                "",
                f"CPU % of one core at {LEGACY_RATE:,} spans/s in {LEGACY_SPANS_PER_REQUEST}-span "
                "requests/packets: legacy receiver -> batch -> otlp_grpc -> counting sink, as a ratio "
                "to our OTLP/gRPC receiver measured in the same run. UDP has no acknowledgement.",
                "",
                scenario_legacy(systems, s, args.legacy or list(legacy_load.PROTOCOLS), report),
                "",
            ]
        if "sequential" in scenarios:
            sections += [
                "## (5) One sequential sender (one request in flight, like an SDK's BatchSpanProcessor)",
                "",
                (
                    "One client sends its next request as soon as the previous one is acknowledged "
                    "(closed loop, max_inflight=1, no rate limit), so its rate is spans per request / ack "
                    "latency. "
                    if s.seq_rate is None
                    else f"One client offers {s.seq_rate:,.0f} spans/s, never more than one request in flight "
                    "(an SDK's batch processor at that load): the latencies are at a fixed load. "
                )
                + f"{s.seq_time:g} s per row after {s.seq_warmup:g} s warm-up (not counted). "
                "Floor = do-nothing server on the same transport; rotel with its default config. "
                "Ours: "
                + "; ".join(f"`{c}` = {targets.SEQUENTIAL_CONFIG_HELP[c]}" for c in args.sequential_configs)
                + ". "
                "Delivered: every span acknowledged during warm-up and window reached the sink "
                "((file): counted in the default config's file exporter output). "
                "Errors: failed calls seen by the sender, plus our collector's loss/refusal counters.",
                "",
                scenario_sequential(systems, s, seq_sizes, args.sequential_configs, args.sequential_transports, report),
                "",
            ]
        if "sdk" in scenarios:
            t0 = time.monotonic()
            body = scenario_sdk(systems, s, args.sdk_senders, args.sdk_targets, sdk_rates, report)
            sections += [
                "## (6) SDK senders on their defaults: spans dropped by the SDK, spans delivered",
                "",
                "A service on an SDK's defaults (`BatchSpanProcessor`: queue 2048, batches of 512, one "
                "export at a time) producing N spans/s, paced, from one thread for "
                f"{s.sdk_time:g} s, then `force_flush`. Each run is a fresh sender process "
                "(`benchmarks/sdk_senders.py`, its CPU is its own) against a freshly started target. "
                "Cells: spans the SDK dropped on a full queue (its own counter) / spans that reached "
                "the target's output ('all' = every started span). 'unaccounted' = started - dropped - "
                "delivered (lost without being counted); 'over' = the reverse (opentelemetry-sdk counts a "
                "drop when it sees a full queue, and its worker may take spans before the append evicts "
                "one, so its count can run a few high). Senders: "
                + "; ".join(f"`{x}` = {SDK_SENDER_HELP[x]}" for x in args.sdk_senders)
                + ". Targets: "
                + "; ".join(f"`{x}` = {SDK_TARGET_HELP[x]}" for x in args.sdk_targets)
                + ". "
                "When an SDK drops even against `raw`, the limit is the sender process itself (its CPU / "
                "the GIL: producing and encoding share one core), not the collector.",
                "",
                body,
                "",
                f"_sdk scenario: {time.monotonic() - t0:.0f} s_",
                "",
            ]
    except KeyboardInterrupt:
        log("interrupted: processes stopped, partial report follows")
        sections.append("_interrupted: partial results_")
    if any(loadgen_bound(x) for x in cache.values()):
        sections += [
            f"(LG): the closed-loop probe used >= {LOADGEN_BOUND_PCT:.0f}% of a core in the load generator "
            "(e.g. grpcio compressing gzip per call), so that maximum is a lower bound set by the "
            "generator on this 2-core machine.",
            "",
        ]
    sections += ["## Targets", "", target_checks(report, cache, s), ""]
    if systems.skipped:
        sections += ["## Not measured", ""] + [f"- {k}: {v}" for k, v in systems.skipped.items()] + [""]
    sections.append(f"_total run time {time.monotonic() - started:.0f} s_")
    text = "\n".join(sections)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    if args.json:
        report["searches"] = [asdict(v) for v in cache.values()]
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
