"""Tail sampling processor (type ``tail_sampling``): the component and its FACTORY.

Spans are buffered per trace id for ``decision_wait`` after the trace's first
span (``buffer.TraceBuffer``); then the policies (``policies``) decide on the
whole trace, their decisions combine by ``policies.final_decision``, and sampled
traces are forwarded downstream.  At most ``num_traces`` traces are held: the
oldest is evicted (and counted as dropped too early).  Decisions are remembered
in LRU decision caches so late spans follow their trace's decision.

Received bytes are parsed as a partial view declaring only the Span fields the
policies read (``otel_lite.collector.partial_otlp``); buffered spans are references into
those views, re-serialized only when their trace is sampled.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...component import Component, Factory
from ...consumer import Traces
from ...partial_otlp import trace_request_view
from .buffer import DecisionCache, Trace, TraceBuffer
from .config import TailSamplingConfig
from .policies import SAMPLED, Decision, Policy, build_policy, final_decision

__all__ = ["TailSamplingProcessor", "FACTORY"]


# the buckets of both decision-latency histograms (µs for the policies, ms for the timer)
_LATENCY_BUCKETS = (
    1,
    2,
    5,
    10,
    25,
    50,
    75,
    100,
    150,
    200,
    300,
    400,
    500,
    750,
    1000,
    2000,
    3000,
    4000,
    5000,
    10000,
    20000,
    30000,
    50000,
)


class TailSamplingProcessor(Component):
    def __init__(self, settings, config: TailSamplingConfig, next_consumer):
        self._next = next_consumer
        self._cfg = config
        self._wait = float(config.decision_wait)
        self._policies: list[tuple[str, Policy]] = [(p.name, build_policy(p)) for p in config.policies]
        read = frozenset({"trace_id"}).union(*(policy.span_fields for _, policy in self._policies))
        self._view = trace_request_view(read, with_envelopes=True)
        self._first_match = config.sample_on_first_match
        self._buffer = TraceBuffer(config.num_traces)
        self._sampled_cache = DecisionCache(config.decision_cache.sampled_cache_size)
        self._not_sampled_cache = DecisionCache(config.decision_cache.non_sampled_cache_size)
        self._logger = settings.logger
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._tick = min(1.0, max(0.005, self._wait / 4))
        self._closed = False
        label = self._label = str(settings.id)
        tel = settings.telemetry
        prefix = "otelcol_processor_tail_sampling_"
        self._m_policy = tel.counter(
            prefix + "count_traces_sampled",
            "Count of traces that were sampled or not per sampling policy",
            ["processor", "policy", "sampled", "decision"],
        )
        self._m_policy_spans = tel.counter(
            prefix + "count_spans_sampled",
            "Count of spans that were sampled or not per sampling policy",
            ["processor", "policy", "sampled", "decision"],
        )
        self._m_global = tel.counter(
            prefix + "global_count_traces_sampled",
            "Global count of traces that were sampled or not by at least one policy",
            ["processor", "sampled", "decision"],
        )
        self._policy_counters: dict[tuple, tuple] = {}
        self._global_counters: dict[Decision, Any] = {}  # prometheus_client Counter children
        self._m_too_early = tel.counter(
            prefix + "sampling_trace_dropped_too_early",
            "Count of traces that needed to be dropped before the configured wait time",
            ["processor"],
        ).labels(label)
        self._m_new_trace = tel.counter(
            prefix + "new_trace_id_received", "Counts the arrival of new traces", ["processor"]
        ).labels(label)
        self._m_on_memory = tel.gauge(
            prefix + "sampling_traces_on_memory", "Tracks the number of traces current on memory", ["processor"]
        ).labels(label)
        self._m_early_release = tel.counter(
            prefix + "early_releases_from_cache_decision",
            "Number of spans that were able to be immediately released due to a decision cache hit.",
            ["processor", "sampled"],
        )
        self._m_decision_latency = tel.histogram(
            prefix + "sampling_decision_latency",
            "Latency (in microseconds) of a given sampling policy",
            ["processor"],
            buckets=_LATENCY_BUCKETS,
        ).labels(label)
        self._m_timer_latency = tel.histogram(
            prefix + "sampling_decision_timer_latency",
            "Latency (in milliseconds) of each run of the sampling decision timer",
            ["processor"],
            buckets=_LATENCY_BUCKETS,
        ).labels(label)
        self._m_removal_age = tel.histogram(
            prefix + "sampling_trace_removal_age",
            "Time (in seconds) from arrival of a new trace until its removal from memory",
            ["processor"],
        ).labels(label)
        self._m_late_age = tel.histogram(
            prefix + "sampling_late_span_age",
            "Time (in seconds) from the sampling decision was taken and the arrival of a late span",
            ["processor"],
        ).labels(label)
        self._m_forward_errors = tel.counter(
            prefix + "forward_errors", "Sampled traces the next component refused (spans).", ["processor"]
        ).labels(label)

    @property
    def pending_traces(self) -> int:
        return len(self._buffer)

    async def start(self, host) -> None:
        if self._task is None and not self._closed:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(self._stop))

    async def _run(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), self._tick)
                return  # shutdown: it decides on what is left itself
            except TimeoutError:
                pass
            try:
                await self.decide_due()
            except Exception:  # one bad tick must not stop sampling
                self._logger.exception("tail sampling decision tick failed")

    async def consume(self, traces: Traces) -> None:
        now = time.monotonic()
        # received bytes are parsed again as a view declaring only what the policies read, even
        # when the receiver's full parse is at hand: a view span re-serializes its undeclared
        # fields as a byte copy, ~10x cheaper than serializing a fully parsed span
        raw = traces.raw
        msg = self._view.FromString(raw) if raw is not None else traces.message
        buffered = self._buffer
        get = buffered.get
        late_sampled: Trace | None = None
        late_count = 0
        for rs in msg.resource_spans:
            for ss in rs.scope_spans:
                # group this scope's spans by trace id (order kept)
                by_tid: dict[bytes, list] = {}
                for span in ss.spans:
                    tid = span.trace_id
                    group = by_tid.get(tid)
                    if group is None:
                        by_tid[tid] = [span]
                    else:
                        group.append(span)
                for tid, spans in by_tid.items():
                    trace = get(tid)
                    if trace is None:
                        decided = self._sampled_cache.get(tid)
                        if decided is not None:
                            self._m_late_age.observe(now - decided)
                            self._m_early_release.labels(self._label, "true").inc(len(spans))
                            if late_sampled is None:
                                late_sampled = Trace(now)
                            late_sampled.groups.append((rs, ss, spans))
                            late_count += len(spans)
                            continue
                        decided = self._not_sampled_cache.get(tid)
                        if decided is not None:
                            self._m_late_age.observe(now - decided)
                            self._m_early_release.labels(self._label, "false").inc(len(spans))
                            continue
                        trace = self._new_trace(tid, now)
                    trace.groups.append((rs, ss, spans))
                    trace.span_count += len(spans)
        self._m_on_memory.set(len(buffered))
        if late_sampled is not None:
            await self._next.consume(Traces(None, late_sampled.to_bytes(), late_count))
        if self._closed:  # no decision tick any more: decide on late arrivals right away
            await self.decide_due(everything=True)

    def _new_trace(self, tid: bytes, now: float) -> Trace:
        trace, evicted = self._buffer.add(tid, now)
        for old in evicted:
            self._m_too_early.inc()
            self._m_removal_age.observe(now - old.arrival)
        self._m_new_trace.inc()
        return trace

    def _decide(self, tid: bytes, trace: Trace) -> bool:
        """Run every policy on ``trace``; True = sampled."""
        seen: set[Decision] = set()
        start = time.perf_counter()
        for name, policy in self._policies:
            try:
                decision = policy.evaluate(tid, trace)
            except Exception:  # a failing policy counts as an error, not as a decision
                self._logger.exception("sampling policy %s failed", name)
                continue
            counters = self._policy_counters.get((name, decision))
            if counters is None:  # labels() costs more than inc(): resolve each combination once
                labels = (self._label, name, "true" if decision.sampled else "false", decision.label)
                counters = self._policy_counters[(name, decision)] = (
                    self._m_policy.labels(*labels),
                    self._m_policy_spans.labels(*labels),
                )
            counters[0].inc()
            counters[1].inc(trace.span_count)
            seen.add(decision)
            if self._first_match and decision == SAMPLED:
                break
        self._m_decision_latency.observe((time.perf_counter() - start) * 1e6)
        final = final_decision(seen)
        counter = self._global_counters.get(final)
        if counter is None:
            counter = self._global_counters[final] = self._m_global.labels(
                self._label, "true" if final is SAMPLED else "false", final.label
            )
        counter.inc()
        return final is SAMPLED

    async def decide_due(self, everything: bool = False) -> None:
        """Decide on every trace whose decision_wait has passed (all of them when
        ``everything``), and forward the sampled ones in one request."""
        start = time.monotonic()
        deadline = start - self._wait
        buffered = self._buffer
        parts: list[bytes] = []
        count = 0
        for tid, trace in buffered.pop_due(None if everything else deadline):
            self._m_removal_age.observe(start - trace.arrival)
            if self._decide(tid, trace):
                self._sampled_cache.put(tid, start)
                parts.append(trace.to_bytes())
                count += trace.span_count
            else:
                self._not_sampled_cache.put(tid, start)
        self._m_on_memory.set(len(buffered))
        self._m_timer_latency.observe((time.monotonic() - start) * 1000)
        if parts:
            try:
                await self._next.consume(Traces.from_bytes(b"".join(parts), count))
            except Exception as e:  # the senders were answered long ago: count and log
                self._m_forward_errors.inc(count)
                self._logger.warning("dropping %d sampled spans: next component refused them: %s", count, e)

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            # let a running decision finish forwarding rather than cancelling it mid-send
            self._stop.set()  # type: ignore[union-attr]  # made with the task
            await task
        if self._cfg.drop_pending_traces_on_shutdown:
            self._buffer.clear()
            self._m_on_memory.set(0)
        else:
            await self.decide_due(everything=True)


def _create(settings, config: TailSamplingConfig, next_consumer) -> TailSamplingProcessor:
    return TailSamplingProcessor(settings, config, next_consumer)


FACTORY = Factory(kind="processor", type="tail_sampling", config_class=TailSamplingConfig, create=_create)
