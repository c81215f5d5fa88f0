"""Probabilistic sampler processor (type ``probabilistic_sampler``).

Decision-compatible with the contrib Go processor:

* ``hash_seed`` mode: FNV-1a 32-bit over the seed (4 bytes, little endian)
  followed by the 16 trace-id bytes; the low 14 bits are compared with
  ``uint32(float32(pct) * float32(163.84))``.  The hash is also turned into a
  56-bit randomness value written as ``rv`` into the span's ``ot`` tracestate,
  as Go does, so a later consistent sampler agrees with this one.
* ``proportional`` / ``equalizing`` modes: OpenTelemetry consistent
  probability sampling (W3C trace randomness = the low 56 bits of the trace
  id, or ``rv`` from ``tracestate``), thresholds encoded as ``th`` with
  ``sampling_precision`` hex digits.
* ``sampling.priority`` span attribute: 0 drops, > 0 keeps, whatever the mode.
* ``fail_closed``: spans without usable randomness (zero trace id, bad
  tracestate, inconsistent threshold) are dropped.

Thresholds and randomness are plain ints in [0, 2**56]; a span is kept when
``randomness >= threshold``.  The arithmetic and the tracestate parser live in
``otel_lite.collector.sampling`` (shared with the tail sampler's probabilistic policy);
this module holds the modes and the processor.  Spans are removed from the
parsed request in place; no span is converted to a Python object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import Traces
from ..partial_otlp import SpanIdentityRequest
from ..sampling import (
    ALL_PROBABILITIES_RANDOMNESS,
    ALWAYS_SAMPLE,
    MIN_SAMPLING_PROBABILITY,
    NEVER_SAMPLE,
    ProbabilityRangeError,
    TraceStateError,
    W3CTraceState,
    f32,
    hash_randomness,
    hash_scaled_rate,
    hash_seed_threshold,
    probability_to_threshold,
    threshold_probability,
    w3c_randomness,
)

__all__ = ["ProbabilisticSamplerConfig", "ProbabilisticSamplerProcessor", "FACTORY"]

# --- configuration ---------------------------------------------------------------------------

MODES = ("hash_seed", "proportional", "equalizing")


@dataclass
class ProbabilisticSamplerConfig(ComponentConfig):
    sampling_percentage: float = 0.0
    hash_seed: int = 0
    mode: str = "hash_seed"
    fail_closed: bool = True
    sampling_precision: int = 4
    # logs-only options of the Go processor; accepted so shared configs load, unused for traces
    attribute_source: str = "traceID"
    from_attribute: str = ""

    def validate(self) -> None:
        pct = self.sampling_percentage
        if math.isnan(pct) or math.isinf(pct):
            raise ConfigError("sampling_percentage", "sampling rate is invalid: must be a finite number")
        if pct < 0:
            raise ConfigError("sampling_percentage", f"sampling rate is negative: {pct:g}%")
        if pct != 0 and f32(pct) / 100 < MIN_SAMPLING_PROBABILITY:
            raise ConfigError("sampling_percentage", f"sampling rate is too small: {pct:g}%")
        if not 0 <= self.hash_seed <= 0xFFFFFFFF:
            raise ConfigError("hash_seed", "must be an unsigned 32-bit integer")
        if self.mode not in MODES and self.mode != "":
            raise ConfigError("mode", f"unsupported sampler mode {self.mode!r} (use one of {', '.join(MODES)})")
        if not 1 <= self.sampling_precision <= 14:
            raise ConfigError("sampling_precision", "invalid sampling precision: must be in [1, 14]")
        if self.attribute_source not in ("traceID", "record"):
            raise ConfigError("attribute_source", "invalid attribute source (use traceID or record)")


# --- samplers --------------------------------------------------------------------------------

_MISSING = "missing_randomness"
_ERR_MISSING = "missing randomness"
_ERR_RANDOMNESS_IN_USE = "item has sampling randomness, equalizing or proportional mode recommended"
_ERR_THRESHOLD_IN_USE = "item has sampling threshold, equalizing or proportional mode recommended"
_ERR_INCONSISTENT = "inconsistent arriving threshold: item should not have been sampled"
_ZERO_TRACE_ID = bytes(16)


class _Sampler:
    """One sampling mode: where randomness comes from and which threshold applies."""

    never = False

    def randomness(self, trace_id: bytes, ts: W3CTraceState | None):
        """-> (policy name, randomness, carrier or None, error or None); ``ts`` None = unparsable."""
        raise NotImplementedError

    def decide(self, carrier: W3CTraceState) -> int:
        raise NotImplementedError


class _NeverSampler(_Sampler):
    never = True

    def randomness(self, trace_id, ts):
        # fake randomness: never used for a decision, avoids a "missing randomness" error
        return "sampling_priority", ALL_PROBABILITIES_RANDOMNESS, ts, None

    def decide(self, carrier):
        return NEVER_SAMPLE


class _HashSeedSampler(_Sampler):
    def __init__(self, seed: int, threshold: int):
        self.seed = seed
        self.threshold = threshold

    def randomness(self, trace_id, ts):
        if trace_id == _ZERO_TRACE_ID:
            policy, rnd = _MISSING, ALL_PROBABILITIES_RANDOMNESS
        else:
            policy, rnd = "trace_id_hash", hash_randomness(trace_id, self.seed)
        if ts is None:
            return policy, rnd, None, "invalid tracestate"
        if ts.rvalue:
            return policy, rnd, None, _ERR_RANDOMNESS_IN_USE
        if ts.tvalue:
            return policy, rnd, None, _ERR_THRESHOLD_IN_USE
        ts.set_randomness(rnd)
        return policy, rnd, ts, None

    def decide(self, carrier):
        return self.threshold


class _ConsistentSampler(_Sampler):
    def randomness(self, trace_id, ts):
        if ts is None:
            return _MISSING, ALL_PROBABILITIES_RANDOMNESS, None, "invalid tracestate"
        if ts.rvalue:
            return "sampling_randomness", ts.rnd, ts, None
        if trace_id != _ZERO_TRACE_ID and len(trace_id) == 16:
            return "trace_id_w3c", w3c_randomness(trace_id), ts, None
        return _MISSING, ALL_PROBABILITIES_RANDOMNESS, ts, None


class _EqualizingSampler(_ConsistentSampler):
    def __init__(self, threshold: int):
        self.threshold = threshold

    def decide(self, carrier):
        if carrier.tvalue and self.threshold < carrier.threshold:
            return carrier.threshold
        return self.threshold


class _ProportionalSampler(_ConsistentSampler):
    def __init__(self, ratio: float, precision: int):
        self.ratio = ratio
        self.precision = precision

    def decide(self, carrier):
        incoming = threshold_probability(carrier.threshold) if carrier.tvalue else 1.0
        try:
            return probability_to_threshold(incoming * self.ratio, self.precision)
        except ProbabilityRangeError:
            return NEVER_SAMPLE


def make_sampler(cfg: ProbabilisticSamplerConfig) -> _Sampler:
    pct = f32(min(cfg.sampling_percentage, 100.0))
    mode = cfg.mode or "hash_seed"
    if pct == 0:
        return _NeverSampler()
    ratio = max(pct / 100, MIN_SAMPLING_PROBABILITY)
    if mode == "equalizing":
        try:
            th = probability_to_threshold(ratio, cfg.sampling_precision)
        except ProbabilityRangeError:  # pragma: no cover - ratio was clamped into range
            th = ALWAYS_SAMPLE
        return _EqualizingSampler(th)
    if mode == "proportional":
        return _ProportionalSampler(ratio, cfg.sampling_precision)
    scaled = hash_scaled_rate(pct)
    if scaled == 0:
        return _NeverSampler()
    return _HashSeedSampler(cfg.hash_seed, hash_seed_threshold(scaled))


# sampling.priority: None = defer, True = must sample, False = must not sample
def _sampling_priority(span) -> bool | None:
    for kv in span.attributes:
        if kv.key != "sampling.priority":
            continue
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "int_value":
            num = v.int_value
        elif kind == "double_value":
            num = v.double_value
        elif kind == "string_value":
            try:
                num = float(v.string_value)
            except ValueError:
                return None
        else:
            return None
        if num == 0:
            return False
        if num > 0:
            return True
        return None
    return None


class ProbabilisticSamplerProcessor(Component):
    def __init__(self, settings, config: ProbabilisticSamplerConfig, next_consumer):
        self._next = next_consumer
        self._sampler = make_sampler(config)
        self._fail_closed = config.fail_closed
        self._logger = settings.logger
        label = str(settings.id)
        tel = settings.telemetry
        self._label = label
        self._m_traces = tel.counter(
            "otelcol_processor_probabilistic_sampler_count_traces_sampled",
            "[DEPRECATED] Count of spans that were sampled or not",
            ["processor", "policy", "sampled"],
        )
        self._m_spans = tel.counter(
            "otelcol_processor_probabilistic_sampler_count_spans_processed",
            "Count of spans that were sampled or not",
            ["processor", "policy", "sampled"],
        )

    def decide(self, trace_id: bytes, trace_state: str, priority: bool | None) -> tuple[str, bool, str | None]:
        """-> (policy name, sampled, new tracestate or None when not to be written)."""
        parse_error = None
        ts: W3CTraceState | None
        try:
            ts = W3CTraceState.parse(trace_state)
        except TraceStateError as e:
            parse_error = str(e)
            # the never-sampler keeps the carrier even when the tracestate is bad (as Go)
            ts = getattr(e, "state", None) if self._sampler.never else None
        policy, rnd, carrier, err = self._sampler.randomness(trace_id, ts)
        if parse_error is not None:
            err = parse_error
        if err is None:
            if policy == _MISSING:
                err = _ERR_MISSING
            elif carrier is not None and carrier.tvalue and rnd < carrier.threshold:
                carrier.clear_threshold()
                err = _ERR_INCONSISTENT
        if err is not None:
            self._logger.debug("traces sampler: %s", err)
            threshold = NEVER_SAMPLE if self._fail_closed else ALWAYS_SAMPLE
        else:
            threshold = self._sampler.decide(carrier)
        if priority is not None:
            threshold = ALWAYS_SAMPLE if priority else NEVER_SAMPLE
            policy = "sampling_priority"
        sampled = rnd >= threshold
        new_ts = None
        if sampled and carrier is not None:
            carrier.update_threshold(threshold)  # refusing to raise a probability is fine
            new_ts = carrier.serialize()
        return policy, sampled, new_ts

    async def consume(self, traces: Traces) -> None:
        # Without a sampling.priority attribute anywhere in the received bytes, spans are only
        # read for trace id and tracestate: a partial parse is several times cheaper than a full one.
        partial = not traces.may_contain(b"sampling.priority")
        msg = SpanIdentityRequest.FromString(traces.to_bytes()) if partial else traces.message
        changed = False
        # how many spans got each decision; decisions are few distinct tuples
        counts: dict[tuple[str, bool, str | None], int] = {}
        # without a tracestate the decision depends on (trace id, priority) only: decide once per request
        by_trace: dict[bytes, tuple[str, bool, str | None]] = {}
        cache: dict[tuple[bytes, bool | None], tuple[str, bool, str | None]] = {}
        decide = self.decide
        kept_total = 0
        rs_list = msg.resource_spans
        for ri in range(len(rs_list) - 1, -1, -1):
            ss_list = rs_list[ri].scope_spans
            for si in range(len(ss_list) - 1, -1, -1):
                spans = ss_list[si].spans
                drop = []
                for i, span in enumerate(spans):
                    priority = None if partial or not len(span.attributes) else _sampling_priority(span)
                    trace_state = span.trace_state
                    result: tuple[str, bool, str | None] | None
                    if trace_state:
                        result = decide(span.trace_id, trace_state, priority)
                    elif priority is None:
                        tid = span.trace_id
                        result = by_trace.get(tid)
                        if result is None:
                            result = by_trace[tid] = decide(tid, "", None)
                    else:
                        key = (span.trace_id, priority)
                        result = cache.get(key)
                        if result is None:
                            result = cache[key] = decide(key[0], "", priority)
                    counts[result] = counts.get(result, 0) + 1
                    if not result[1]:
                        drop.append(i)
                        continue
                    new_ts = result[2]
                    if new_ts is not None and new_ts != trace_state:
                        span.trace_state = new_ts
                        changed = True
                for i in reversed(drop):
                    del spans[i]
                changed = changed or bool(drop)
                kept_total += len(spans)
                if not len(spans):
                    del ss_list[si]
            if not len(ss_list):
                del rs_list[ri]
        totals: dict[tuple[str, bool], int] = {}
        for (policy, sampled, _), n in counts.items():
            totals[(policy, sampled)] = totals.get((policy, sampled), 0) + n
        for (policy, sampled), n in totals.items():
            s = "true" if sampled else "false"
            self._m_traces.labels(self._label, policy, s).inc(n)
            self._m_spans.labels(self._label, policy, s).inc(n)
        if kept_total == 0:
            return  # nothing left: like Go's ErrSkipProcessingData, the request succeeded
        if changed:
            if partial:
                traces = Traces(None, msg.SerializeToString(), kept_total, traces.metadata)
            else:
                traces.modified()
        await self._next.consume(traces)


def _create(settings, config: ProbabilisticSamplerConfig, next_consumer) -> ProbabilisticSamplerProcessor:
    return ProbabilisticSamplerProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="probabilistic_sampler", config_class=ProbabilisticSamplerConfig, create=_create
)
