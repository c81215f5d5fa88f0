"""Tail sampling processor (type ``tail_sampling``).

Spans are buffered per trace id for ``decision_wait`` after the trace's first
span; then the policies decide on the whole trace and sampled traces are
forwarded downstream.  Decision rule (current Go): any ``drop`` policy
matching -> not sampled; else an inverted policy that did not match
(InvertNotSampled) -> not sampled; else any policy sampling -> sampled; else
InvertSampled without any plain NotSampled -> sampled; else not sampled.

Memory: a buffered trace holds references to its spans inside the received
requests (upb keeps those requests alive), never copies; policies read the
protobuf spans directly, and a sampled trace is serialized span by span with
its resource and scope (protobuf messages concatenate, so forwarding joins
those bytes).  At most ``num_traces`` traces are held: the oldest is evicted
(and counted as dropped too early).  Decisions are remembered in LRU decision
caches so late spans follow their trace's decision.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from otel_lite.otlp.wire import (T_REQUEST_RESOURCE_SPANS, T_RESOURCE_SPANS_RESOURCE, T_RESOURCE_SPANS_SCOPE_SPANS,
                                  T_SCHEMA_URL, T_SCOPE_SPANS_SCOPE, T_SCOPE_SPANS_SPAN, len_field)

from ..component import Component, ComponentConfig, ConfigError, Duration, Factory, validate_tree
from ..consumer import Traces
from ..partial_otlp import trace_request_view

__all__ = ["TailSamplingConfig", "TailSamplingProcessor", "FACTORY"]

# --- configuration ---------------------------------------------------------------------------

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _validate_items(key: str, items: list) -> None:
    # ComponentConfig's validation does not descend into lists: validate each item here
    for i, item in enumerate(items):
        validate_tree(item, f"{key}[{i}]")


@dataclass
class LatencyConfig(ComponentConfig):
    threshold_ms: int = 0
    upper_threshold_ms: int = 0

    def validate(self):
        if self.upper_threshold_ms and self.upper_threshold_ms < self.threshold_ms:
            raise ConfigError("upper_threshold_ms", "must be greater than threshold_ms")


@dataclass
class NumericAttributeConfig(ComponentConfig):
    key: str = ""
    min_value: int | None = None
    max_value: int | None = None
    invert_match: bool = False

    def validate(self):
        if not self.key:
            raise ConfigError("key", "must be set")
        if self.min_value is not None and self.max_value is not None and self.max_value < self.min_value:
            raise ConfigError("max_value", "must be greater than or equal to min_value")


@dataclass
class ProbabilisticConfig(ComponentConfig):
    hash_salt: str = ""
    sampling_percentage: float = 0.0

    def validate(self):
        if not 0 <= self.sampling_percentage <= 100:
            raise ConfigError("sampling_percentage", "must be between 0 and 100")


_STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}


@dataclass
class StatusCodeConfig(ComponentConfig):
    status_codes: list[str] = field(default_factory=list)

    def validate(self):
        if not self.status_codes:
            raise ConfigError("status_codes", "at least one status code must be set")
        for i, code in enumerate(self.status_codes):
            if code not in _STATUS_CODES:
                raise ConfigError(f"status_codes[{i}]", f"unknown status code {code!r} (use OK, ERROR or UNSET)")


@dataclass
class StringAttributeConfig(ComponentConfig):
    key: str = ""
    values: list[str] = field(default_factory=list)
    enabled_regex_matching: bool = False
    cache_max_size: int = 10
    invert_match: bool = False

    def validate(self):
        if not self.key:
            raise ConfigError("key", "must be set")
        if self.enabled_regex_matching:
            for i, v in enumerate(self.values):
                try:
                    re.compile(v)
                except re.error as e:
                    raise ConfigError(f"values[{i}]", f"invalid regular expression: {e}") from None


@dataclass
class BooleanAttributeConfig(ComponentConfig):
    key: str = ""
    value: bool = False
    invert_match: bool = False

    def validate(self):
        if not self.key:
            raise ConfigError("key", "must be set")


@dataclass
class RateLimitingConfig(ComponentConfig):
    spans_per_second: int = 0

    def validate(self):
        if self.spans_per_second <= 0:
            raise ConfigError("spans_per_second", "must be greater than zero")


@dataclass
class SpanCountConfig(ComponentConfig):
    min_spans: int = 0
    max_spans: int = 0

    def validate(self):
        if self.max_spans and self.max_spans < self.min_spans:
            raise ConfigError("max_spans", "must be greater than or equal to min_spans")


@dataclass
class TraceStateConfig(ComponentConfig):
    key: str = ""
    values: list[str] = field(default_factory=list)

    def validate(self):
        if not self.key:
            raise ConfigError("key", "must be set")
        if not self.values:
            raise ConfigError("values", "at least one value must be set")


LEAF_TYPES = ("always_sample", "latency", "numeric_attribute", "probabilistic", "status_code",
              "string_attribute", "rate_limiting", "span_count", "boolean_attribute", "trace_state")


@dataclass
class LeafPolicyConfig(ComponentConfig):
    """A policy without sub-policies (what ``and`` / ``drop`` accept)."""

    name: str = ""
    type: str = ""
    latency: LatencyConfig | None = None
    numeric_attribute: NumericAttributeConfig | None = None
    probabilistic: ProbabilisticConfig | None = None
    status_code: StatusCodeConfig | None = None
    string_attribute: StringAttributeConfig | None = None
    rate_limiting: RateLimitingConfig | None = None
    span_count: SpanCountConfig | None = None
    boolean_attribute: BooleanAttributeConfig | None = None
    trace_state: TraceStateConfig | None = None

    allowed_types = LEAF_TYPES

    def validate(self):
        if not self.name:
            raise ConfigError("name", "every policy needs a name")
        if self.type not in self.allowed_types:
            raise ConfigError("type", f"unknown or unsupported policy type {self.type!r} "
                                      f"(use one of {', '.join(self.allowed_types)})")
        # a type whose options block is absent gets its defaults, validated like a given block
        attr = "and_" if self.type == "and" else self.type
        if self.type != "always_sample" and getattr(self, attr, None) is None:
            options = _OPTION_CLASSES[self.type]()
            validate_tree(options, self.type)
            setattr(self, attr, options)


@dataclass
class AndConfig(ComponentConfig):
    and_sub_policy: list[LeafPolicyConfig] = field(default_factory=list)

    def validate(self):
        if not self.and_sub_policy:
            raise ConfigError("and_sub_policy", "at least one sub-policy is required")
        _validate_items("and_sub_policy", self.and_sub_policy)


@dataclass
class DropConfig(ComponentConfig):
    drop_sub_policy: list[LeafPolicyConfig] = field(default_factory=list)

    def validate(self):
        if not self.drop_sub_policy:
            raise ConfigError("drop_sub_policy", "at least one sub-policy is required")
        _validate_items("drop_sub_policy", self.drop_sub_policy)


@dataclass
class CompositeSubPolicyConfig(LeafPolicyConfig):
    and_: AndConfig | None = field(default=None, metadata={"key": "and"})

    allowed_types = LEAF_TYPES + ("and",)


@dataclass
class RateAllocationConfig(ComponentConfig):
    policy: str = ""
    percent: int = 0

    def validate(self):
        if not 0 <= self.percent <= 100:
            raise ConfigError("percent", "must be between 0 and 100")


@dataclass
class CompositeConfig(ComponentConfig):
    max_total_spans_per_second: int = 0
    policy_order: list[str] = field(default_factory=list)
    composite_sub_policy: list[CompositeSubPolicyConfig] = field(default_factory=list)
    rate_allocation: list[RateAllocationConfig] = field(default_factory=list)

    def validate(self):
        if self.max_total_spans_per_second <= 0:
            raise ConfigError("max_total_spans_per_second", "must be greater than zero")
        if not self.composite_sub_policy:
            raise ConfigError("composite_sub_policy", "at least one sub-policy is required")
        _validate_items("composite_sub_policy", self.composite_sub_policy)
        _validate_items("rate_allocation", self.rate_allocation)
        names = {p.name for p in self.composite_sub_policy}
        for i, name in enumerate(self.policy_order):
            if name not in names:
                raise ConfigError(f"policy_order[{i}]", f"no composite_sub_policy named {name!r}")
        for i, alloc in enumerate(self.rate_allocation):
            if alloc.policy not in names:
                raise ConfigError(f"rate_allocation[{i}].policy", f"no composite_sub_policy named {alloc.policy!r}")
        if sum(a.percent for a in self.rate_allocation) > 100:
            raise ConfigError("rate_allocation", "percentages add up to more than 100")


@dataclass
class PolicyConfig(CompositeSubPolicyConfig):
    drop: DropConfig | None = None
    composite: CompositeConfig | None = None

    allowed_types = LEAF_TYPES + ("and", "drop", "composite")


_OPTION_CLASSES = {
    "latency": LatencyConfig, "numeric_attribute": NumericAttributeConfig, "probabilistic": ProbabilisticConfig,
    "status_code": StatusCodeConfig, "string_attribute": StringAttributeConfig,
    "rate_limiting": RateLimitingConfig, "span_count": SpanCountConfig,
    "boolean_attribute": BooleanAttributeConfig, "trace_state": TraceStateConfig,
    "and": AndConfig, "drop": DropConfig, "composite": CompositeConfig,
}


@dataclass
class DecisionCacheConfig(ComponentConfig):
    sampled_cache_size: int = 0
    non_sampled_cache_size: int = 0

    def validate(self):
        for key in ("sampled_cache_size", "non_sampled_cache_size"):
            if getattr(self, key) < 0:
                raise ConfigError(key, "must not be negative")


@dataclass
class TailSamplingConfig(ComponentConfig):
    decision_wait: Duration = Duration(30.0)
    num_traces: int = 50000
    expected_new_traces_per_sec: int = 0
    decision_cache: DecisionCacheConfig = field(default_factory=DecisionCacheConfig)
    sample_on_first_match: bool = False
    drop_pending_traces_on_shutdown: bool = False
    policies: list[PolicyConfig] = field(default_factory=list)

    def validate(self):
        if self.decision_wait <= 0:
            raise ConfigError("decision_wait", "must be greater than zero")
        if self.num_traces <= 0:
            raise ConfigError("num_traces", "must be greater than zero")
        if self.expected_new_traces_per_sec < 0:
            raise ConfigError("expected_new_traces_per_sec", "must not be negative")
        if not self.policies:
            raise ConfigError("policies", "no sampling policies configured")
        _validate_items("policies", self.policies)
        seen = set()
        for i, p in enumerate(self.policies):
            if p.name in seen:
                raise ConfigError(f"policies[{i}].name", f"duplicate policy name {p.name!r}")
            seen.add(p.name)


# --- decisions and policy evaluators ---------------------------------------------------------

SAMPLED, NOT_SAMPLED, DROPPED, INVERT_SAMPLED, INVERT_NOT_SAMPLED = range(5)
_DECISION_LABEL = {SAMPLED: "sampled", NOT_SAMPLED: "not_sampled", DROPPED: "dropped",
                   INVERT_SAMPLED: "sampled", INVERT_NOT_SAMPLED: "not_sampled"}


class _Trace:
    """One buffered trace: its spans and bookkeeping.

    ``groups`` holds (ResourceSpans, ScopeSpans, [Span, ...]) references into the
    received requests rather than copies: copying spans was most of this
    processor's cost, and only sampled traces are ever serialized again."""

    __slots__ = ("groups", "span_count", "arrival")

    def __init__(self, arrival: float):
        self.groups: list[tuple] = []
        self.span_count = 0
        self.arrival = arrival

    def to_bytes(self) -> bytes:
        """The trace as serialized ExportTraceServiceRequest fields (one ResourceSpans per group)."""
        out = []
        for rs, ss, spans in self.groups:
            scope_spans = len_field(T_SCOPE_SPANS_SCOPE, ss.scope.SerializeToString()) + b"".join(
                len_field(T_SCOPE_SPANS_SPAN, span.SerializeToString()) for span in spans)
            if ss.schema_url:
                scope_spans += len_field(T_SCHEMA_URL, ss.schema_url.encode())
            resource_spans = (len_field(T_RESOURCE_SPANS_RESOURCE, rs.resource.SerializeToString())
                              + len_field(T_RESOURCE_SPANS_SCOPE_SPANS, scope_spans))
            if rs.schema_url:
                resource_spans += len_field(T_SCHEMA_URL, rs.schema_url.encode())
            out.append(len_field(T_REQUEST_RESOURCE_SPANS, resource_spans))
        return b"".join(out)


def _spans(trace: _Trace):
    for _, _, spans in trace.groups:
        yield from spans


def _attr(attributes, key):
    for kv in attributes:
        if kv.key == key:
            return kv.value
    return None


def _has_resource_or_span(trace: _Trace, key: str, matches: Callable, invert: bool) -> int:
    """Go's hasResourceOrSpanWithCondition / its inverted form, for one attribute key.
    ``matches(value)`` is True when the attribute value fits the policy."""
    for rs, _, spans in trace.groups:
        v = _attr(rs.resource.attributes, key)
        if v is not None:
            m = matches(v)
            if invert and m:
                return INVERT_NOT_SAMPLED
            if not invert and m:
                return SAMPLED
        for span in spans:
            v = _attr(span.attributes, key)
            if v is None:
                continue
            m = matches(v)
            if invert and m:
                return INVERT_NOT_SAMPLED
            if not invert and m:
                return SAMPLED
    return INVERT_SAMPLED if invert else NOT_SAMPLED


# Each policy names the Span fields it reads; the processor parses only their union
# (plus trace_id) out of received requests, see collector.partial_otlp.
class AlwaysSample:
    span_fields = frozenset()

    def evaluate(self, trace_id, trace):
        return SAMPLED


class Latency:
    span_fields = frozenset(("start_time_unix_nano", "end_time_unix_nano"))

    def __init__(self, cfg: LatencyConfig):
        self.threshold = cfg.threshold_ms
        self.upper = cfg.upper_threshold_ms

    def evaluate(self, trace_id, trace):
        lo, hi = None, None
        for span in _spans(trace):
            s, e = span.start_time_unix_nano, span.end_time_unix_nano
            lo = s if lo is None or s < lo else lo
            hi = e if hi is None or e > hi else hi
            ms = (hi - lo) // 1_000_000 if hi >= lo else -((lo - hi) // 1_000_000)  # Go truncates
            if self.upper == 0:
                if ms >= self.threshold:
                    return SAMPLED
            elif self.threshold < ms <= self.upper:
                return SAMPLED
        return NOT_SAMPLED


class NumericAttribute:
    span_fields = frozenset(("attributes",))

    def __init__(self, cfg: NumericAttributeConfig):
        self.key = cfg.key
        self.lo = _INT64_MIN if cfg.min_value is None else cfg.min_value
        self.hi = _INT64_MAX if cfg.max_value is None else cfg.max_value
        self.invert = cfg.invert_match

    def _matches(self, v) -> bool:
        kind = v.WhichOneof("value")
        if kind == "int_value":
            return self.lo <= v.int_value <= self.hi
        if kind == "double_value":
            return self.lo <= v.double_value <= self.hi
        return False

    def evaluate(self, trace_id, trace):
        return _has_resource_or_span(trace, self.key, self._matches, self.invert)


class StringAttribute:
    span_fields = frozenset(("attributes",))

    def __init__(self, cfg: StringAttributeConfig):
        self.key = cfg.key
        self.invert = cfg.invert_match
        if cfg.enabled_regex_matching:
            self._regexes = [re.compile(v) for v in cfg.values]
            self._cache: OrderedDict[str, bool] = OrderedDict()
            self._cache_size = cfg.cache_max_size
            self._match_str = self._regex_match
        else:
            values = frozenset(cfg.values)
            self._match_str = values.__contains__

    def _regex_match(self, s: str) -> bool:
        hit = self._cache.get(s)
        if hit is None:
            hit = any(r.search(s) for r in self._regexes)
            if self._cache_size > 0:
                self._cache[s] = hit
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return hit

    def _matches(self, v) -> bool:
        return v.WhichOneof("value") == "string_value" and self._match_str(v.string_value)

    def evaluate(self, trace_id, trace):
        return _has_resource_or_span(trace, self.key, self._matches, self.invert)


class BooleanAttribute:
    span_fields = frozenset(("attributes",))

    def __init__(self, cfg: BooleanAttributeConfig):
        self.key, self.value, self.invert = cfg.key, cfg.value, cfg.invert_match

    def _matches(self, v) -> bool:
        return v.WhichOneof("value") == "bool_value" and v.bool_value == self.value

    def evaluate(self, trace_id, trace):
        return _has_resource_or_span(trace, self.key, self._matches, self.invert)


class StatusCode:
    span_fields = frozenset(("status",))

    def __init__(self, cfg: StatusCodeConfig):
        self.codes = frozenset(_STATUS_CODES[c] for c in cfg.status_codes)

    def evaluate(self, trace_id, trace):
        codes = self.codes
        for span in _spans(trace):
            if span.status.code in codes:
                return SAMPLED
        return NOT_SAMPLED


_UINT64_MAX = (1 << 64) - 1


def _probabilistic_threshold(ratio: float) -> int:
    """``MaxUint64 * ratio`` as Go's big.Float computes it: product rounded to a
    64-bit mantissa (nearest even), then truncated to an integer."""
    exact = Fraction(_UINT64_MAX) * Fraction(ratio)
    if exact <= 0:
        return 0
    k = exact.numerator.bit_length() - exact.denominator.bit_length()
    while exact >= Fraction(1 << 64) * (Fraction(2) ** k):
        k += 1
    while exact < Fraction(1 << 63) * (Fraction(2) ** k):
        k -= 1
    mant = exact / (Fraction(2) ** k)  # in [2^63, 2^64)
    rounded = round(mant)  # Fraction rounds half to even
    value = Fraction(rounded) * (Fraction(2) ** k)
    return min(int(value), _UINT64_MAX)


def _fnv1a64(data: bytes, h: int = 0xCBF29CE484222325) -> int:
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _UINT64_MAX
    return h


class Probabilistic:
    span_fields = frozenset()

    def __init__(self, cfg: ProbabilisticConfig):
        self.salt_hash = _fnv1a64((cfg.hash_salt or "default-hash-seed").encode())
        self.threshold = _probabilistic_threshold(cfg.sampling_percentage / 100)

    def evaluate(self, trace_id, trace):
        return SAMPLED if _fnv1a64(trace_id, self.salt_hash) <= self.threshold else NOT_SAMPLED


class RateLimiting:
    span_fields = frozenset()

    def __init__(self, cfg: RateLimitingConfig, clock=time.time):
        self.limit = cfg.spans_per_second
        self.clock = clock
        self.second = -1
        self.spans = 0

    def evaluate(self, trace_id, trace):
        now = int(self.clock())
        if now != self.second:
            self.second, self.spans = now, 0
        total = self.spans + trace.span_count
        if total < self.limit:
            self.spans = total
            return SAMPLED
        return NOT_SAMPLED


class SpanCount:
    span_fields = frozenset()

    def __init__(self, cfg: SpanCountConfig):
        self.lo, self.hi = cfg.min_spans, cfg.max_spans

    def evaluate(self, trace_id, trace):
        n = trace.span_count
        return SAMPLED if self.lo <= n and (self.hi == 0 or n <= self.hi) else NOT_SAMPLED


class TraceState:
    span_fields = frozenset(("trace_state",))

    def __init__(self, cfg: TraceStateConfig):
        self.key = cfg.key
        self.values = frozenset(cfg.values)

    def evaluate(self, trace_id, trace):
        prefix = self.key + "="
        for span in _spans(trace):
            ts = span.trace_state
            if not ts or prefix not in ts:
                continue
            for member in ts.split(","):
                k, _, v = member.strip(" \t").partition("=")
                if k == self.key and v in self.values:
                    return SAMPLED
        return NOT_SAMPLED


class And:
    def __init__(self, subs: list):
        self.subs = subs
        self.span_fields = frozenset().union(*(sub.span_fields for sub in subs))

    def evaluate(self, trace_id, trace):
        for sub in self.subs:
            if sub.evaluate(trace_id, trace) in (NOT_SAMPLED, INVERT_NOT_SAMPLED):
                return NOT_SAMPLED
        return SAMPLED


class Drop(And):
    def evaluate(self, trace_id, trace):
        return DROPPED if super().evaluate(trace_id, trace) == SAMPLED else NOT_SAMPLED


class Composite:
    """Rate-limits what each sub-policy may sample, per second, within a total budget."""

    def __init__(self, subs: list[tuple[object, int]], max_total: int, clock=time.time):
        self.subs = [[ev, alloc, 0] for ev, alloc in subs]
        self.span_fields = frozenset().union(*(ev.span_fields for ev, _ in subs))
        self.max_total = max_total
        self.clock = clock
        self.second = -1

    def evaluate(self, trace_id, trace):
        now = int(self.clock())
        if now != self.second:
            self.second = now
            for sub in self.subs:
                sub[2] = 0
        for sub in self.subs:
            decision = sub[0].evaluate(trace_id, trace)
            if decision in (SAMPLED, INVERT_SAMPLED):
                total = sub[2] + trace.span_count
                if total <= sub[1] and total <= self.max_total:
                    sub[2] = total
                    return SAMPLED
                return NOT_SAMPLED
        return NOT_SAMPLED


_LEAF_BUILDERS = {
    "always_sample": lambda cfg: AlwaysSample(),
    "latency": lambda cfg: Latency(cfg.latency),
    "numeric_attribute": lambda cfg: NumericAttribute(cfg.numeric_attribute),
    "probabilistic": lambda cfg: Probabilistic(cfg.probabilistic),
    "status_code": lambda cfg: StatusCode(cfg.status_code),
    "string_attribute": lambda cfg: StringAttribute(cfg.string_attribute),
    "rate_limiting": lambda cfg: RateLimiting(cfg.rate_limiting),
    "span_count": lambda cfg: SpanCount(cfg.span_count),
    "boolean_attribute": lambda cfg: BooleanAttribute(cfg.boolean_attribute),
    "trace_state": lambda cfg: TraceState(cfg.trace_state),
}


def build_policy(cfg: LeafPolicyConfig):
    if cfg.type == "and":
        return And([build_policy(p) for p in cfg.and_.and_sub_policy])
    if cfg.type == "drop":
        return Drop([build_policy(p) for p in cfg.drop.drop_sub_policy])
    if cfg.type == "composite":
        c = cfg.composite
        total = c.max_total_spans_per_second
        default = total / len(c.composite_sub_policy)
        alloc = {a.policy: (a.percent / 100 * total if a.percent > 0 else default) for a in c.rate_allocation}
        by_name = {p.name: p for p in c.composite_sub_policy}
        order = list(c.policy_order) or [p.name for p in c.composite_sub_policy]
        order += [p.name for p in c.composite_sub_policy if p.name not in order]
        return Composite([(build_policy(by_name[n]), int(alloc.get(n, 0))) for n in order], total)
    return _LEAF_BUILDERS[cfg.type](cfg)


class _LRU:
    """Bounded set of trace ids (size 0 = disabled)."""

    def __init__(self, size: int):
        self.size = size
        self._d: OrderedDict[bytes, float] = OrderedDict()

    def put(self, key: bytes, when: float) -> None:
        if self.size <= 0:
            return
        self._d[key] = when
        self._d.move_to_end(key)
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def get(self, key: bytes) -> float | None:
        when = self._d.get(key)
        if when is not None:
            self._d.move_to_end(key)
        return when


# --- the processor ---------------------------------------------------------------------------

class TailSamplingProcessor(Component):
    def __init__(self, settings, config: TailSamplingConfig, next_consumer):
        self._next = next_consumer
        self._cfg = config
        self._wait = float(config.decision_wait)
        self._num_traces = config.num_traces
        self._policies = [(p.name, build_policy(p)) for p in config.policies]
        read = frozenset({"trace_id"}).union(*(policy.span_fields for _, policy in self._policies))
        self._view = trace_request_view(read, with_envelopes=True)
        self._first_match = config.sample_on_first_match
        self._traces: dict[bytes, _Trace] = {}  # insertion order = arrival order
        self._sampled_cache = _LRU(config.decision_cache.sampled_cache_size)
        self._not_sampled_cache = _LRU(config.decision_cache.non_sampled_cache_size)
        self._logger = settings.logger
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._tick = min(1.0, max(0.005, self._wait / 4))
        self._closed = False
        label = self._label = str(settings.id)
        tel = settings.telemetry
        prefix = "otelcol_processor_tail_sampling_"
        self._m_policy = tel.counter(prefix + "count_traces_sampled",
                                     "Count of traces that were sampled or not per sampling policy",
                                     ["processor", "policy", "sampled", "decision"])
        self._m_policy_spans = tel.counter(prefix + "count_spans_sampled",
                                           "Count of spans that were sampled or not per sampling policy",
                                           ["processor", "policy", "sampled", "decision"])
        self._m_global = tel.counter(prefix + "global_count_traces_sampled",
                                     "Global count of traces that were sampled or not by at least one policy",
                                     ["processor", "sampled", "decision"])
        self._policy_counters: dict[tuple, tuple] = {}
        self._global_counters: dict[str, object] = {}
        self._m_too_early = tel.counter(prefix + "sampling_trace_dropped_too_early",
                                        "Count of traces that needed to be dropped before the configured wait time",
                                        ["processor"]).labels(label)
        self._m_new_trace = tel.counter(prefix + "new_trace_id_received", "Counts the arrival of new traces",
                                        ["processor"]).labels(label)
        self._m_on_memory = tel.gauge(prefix + "sampling_traces_on_memory",
                                      "Tracks the number of traces current on memory", ["processor"]).labels(label)
        self._m_early_release = tel.counter(
            prefix + "early_releases_from_cache_decision",
            "Number of spans that were able to be immediately released due to a decision cache hit.",
            ["processor", "sampled"])
        self._m_decision_latency = tel.histogram(
            prefix + "sampling_decision_latency", "Latency (in microseconds) of a given sampling policy",
            ["processor"], buckets=(1, 2, 5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 2000,
                                    3000, 4000, 5000, 10000, 20000, 30000, 50000)).labels(label)
        self._m_timer_latency = tel.histogram(
            prefix + "sampling_decision_timer_latency",
            "Latency (in milliseconds) of each run of the sampling decision timer", ["processor"],
            buckets=(1, 2, 5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 2000, 3000, 4000, 5000,
                     10000, 20000, 30000, 50000)).labels(label)
        self._m_removal_age = tel.histogram(
            prefix + "sampling_trace_removal_age",
            "Time (in seconds) from arrival of a new trace until its removal from memory", ["processor"]
        ).labels(label)
        self._m_late_age = tel.histogram(
            prefix + "sampling_late_span_age",
            "Time (in seconds) from the sampling decision was taken and the arrival of a late span",
            ["processor"]).labels(label)
        self._m_forward_errors = tel.counter(
            prefix + "forward_errors", "Sampled traces the next component refused (spans).",
            ["processor"]).labels(label)

    @property
    def pending_traces(self) -> int:
        return len(self._traces)

    async def start(self, host) -> None:
        if self._task is None and not self._closed:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(self._stop))

    async def _run(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), self._tick)
                return  # shutdown: it decides on what is left itself
            except asyncio.TimeoutError:
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
        buffered = self._traces
        late_sampled: _Trace | None = None
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
                    trace = buffered.get(tid)
                    if trace is None:
                        decided = self._sampled_cache.get(tid)
                        if decided is not None:
                            self._m_late_age.observe(now - decided)
                            self._m_early_release.labels(self._label, "true").inc(len(spans))
                            if late_sampled is None:
                                late_sampled = _Trace(now)
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

    def _new_trace(self, tid: bytes, now: float) -> _Trace:
        buffered = self._traces
        while len(buffered) >= self._num_traces:
            old_tid = next(iter(buffered))
            old = buffered.pop(old_tid)
            self._m_too_early.inc()
            self._m_removal_age.observe(now - old.arrival)
        trace = buffered[tid] = _Trace(now)
        self._m_new_trace.inc()
        return trace

    def _decide(self, tid: bytes, trace: _Trace) -> bool:
        """Run every policy on ``trace``; True = sampled."""
        seen: set[int] = set()
        start = time.perf_counter()
        for name, policy in self._policies:
            try:
                decision = policy.evaluate(tid, trace)
            except Exception:  # a failing policy counts as an error, not as a decision
                self._logger.exception("sampling policy %s failed", name)
                continue
            counters = self._policy_counters.get((name, decision))
            if counters is None:  # labels() costs more than inc(): resolve each combination once
                sampled = decision in (SAMPLED, INVERT_SAMPLED)
                labels = (self._label, name, "true" if sampled else "false", _DECISION_LABEL[decision])
                counters = self._policy_counters[(name, decision)] = (
                    self._m_policy.labels(*labels), self._m_policy_spans.labels(*labels))
            counters[0].inc()
            counters[1].inc(trace.span_count)
            seen.add(decision)
            if self._first_match and decision == SAMPLED:
                break
        self._m_decision_latency.observe((time.perf_counter() - start) * 1e6)
        if DROPPED in seen:
            final, label = False, "dropped"
        elif INVERT_NOT_SAMPLED in seen:
            final, label = False, "not_sampled"
        elif SAMPLED in seen:
            final, label = True, "sampled"
        elif INVERT_SAMPLED in seen and NOT_SAMPLED not in seen:
            final, label = True, "sampled"
        else:
            final, label = False, "not_sampled"
        counter = self._global_counters.get(label)
        if counter is None:
            counter = self._global_counters[label] = self._m_global.labels(
                self._label, "true" if final else "false", label)
        counter.inc()
        return final

    async def decide_due(self, everything: bool = False) -> None:
        """Decide on every trace whose decision_wait has passed (all of them when
        ``everything``), and forward the sampled ones in one request."""
        start = time.monotonic()
        deadline = start - self._wait
        buffered = self._traces
        parts: list[bytes] = []
        count = 0
        while buffered:
            tid = next(iter(buffered))
            trace = buffered[tid]
            if not everything and trace.arrival > deadline:
                break
            del buffered[tid]
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
            self._stop.set()
            await task
        if self._cfg.drop_pending_traces_on_shutdown:
            self._traces.clear()
            self._m_on_memory.set(0)
        else:
            await self.decide_due(everything=True)


def _create(settings, config: TailSamplingConfig, next_consumer) -> TailSamplingProcessor:
    return TailSamplingProcessor(settings, config, next_consumer)


FACTORY = Factory(kind="processor", type="tail_sampling", config_class=TailSamplingConfig, create=_create)
