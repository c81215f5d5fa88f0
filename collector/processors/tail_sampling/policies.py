"""Tail-sampling policies: the ``Decision`` a policy returns, the ``Policy``
protocol every policy type implements, the implementations (Go's
``processor/tailsamplingprocessor/internal/sampling``), the rule that combines
the policies' decisions into the trace's, and ``build_policy`` from config.

Policies read the buffered protobuf spans directly (``Trace.groups``).  Each
names the Span fields it reads in ``span_fields``; the processor parses only
their union (plus trace_id) out of received requests, see
``otel_lite.collector.partial_otlp``.
"""

from __future__ import annotations

import enum
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any, Protocol

from ...sampling import TraceStateError, ratio_threshold_u64, salt_hash, salted_hash_sampled, tracestate_members
from .buffer import Trace
from .config import (
    STATUS_CODES,
    BooleanAttributeConfig,
    LatencyConfig,
    LeafPolicyConfig,
    NumericAttributeConfig,
    ProbabilisticConfig,
    RateLimitingConfig,
    SpanCountConfig,
    StatusCodeConfig,
    StringAttributeConfig,
    TraceStateConfig,
)

__all__ = [
    "Decision",
    "Policy",
    "final_decision",
    "build_policy",
    "AlwaysSample",
    "Latency",
    "NumericAttribute",
    "StringAttribute",
    "BooleanAttribute",
    "StatusCode",
    "Probabilistic",
    "RateLimiting",
    "SpanCount",
    "TraceState",
    "And",
    "Drop",
    "Composite",
]


class Decision(enum.IntEnum):
    """What one policy says about a trace (Go's ``sampling.Decision``)."""

    SAMPLED = 0
    NOT_SAMPLED = 1
    DROPPED = 2  # a ``drop`` policy matched: not sampled, whatever the others say
    INVERT_SAMPLED = 3  # deprecated inverted decisions of the ``invert_match`` policies
    INVERT_NOT_SAMPLED = 4

    @property
    def sampled(self) -> bool:
        return self is Decision.SAMPLED or self is Decision.INVERT_SAMPLED

    @property
    def label(self) -> str:
        """The ``decision`` metric label."""
        if self is Decision.DROPPED:
            return "dropped"
        return "sampled" if self.sampled else "not_sampled"


SAMPLED, NOT_SAMPLED, DROPPED = Decision.SAMPLED, Decision.NOT_SAMPLED, Decision.DROPPED
INVERT_SAMPLED, INVERT_NOT_SAMPLED = Decision.INVERT_SAMPLED, Decision.INVERT_NOT_SAMPLED


class Policy(Protocol):
    """One sampling policy: decides on a whole buffered trace."""

    span_fields: frozenset[str]  # the Span fields ``evaluate`` reads (trace_id is always parsed)

    def evaluate(self, trace_id: bytes, trace: Trace) -> Decision: ...


def final_decision(decisions: Collection[Decision]) -> Decision:
    """The trace's decision from its policies' (current Go): any ``drop`` -> DROPPED; else an
    inverted policy that did not match -> NOT_SAMPLED; else any SAMPLED -> SAMPLED; else
    INVERT_SAMPLED without any plain NOT_SAMPLED -> SAMPLED; else NOT_SAMPLED."""
    if DROPPED in decisions:
        return DROPPED
    if INVERT_NOT_SAMPLED in decisions:
        return NOT_SAMPLED
    if SAMPLED in decisions:
        return SAMPLED
    if INVERT_SAMPLED in decisions and NOT_SAMPLED not in decisions:
        return SAMPLED
    return NOT_SAMPLED


def _attr(attributes, key):
    for kv in attributes:
        if kv.key == key:
            return kv.value
    return None


def _has_resource_or_span(trace: Trace, key: str, matches: Callable, invert: bool) -> Decision:
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


class AlwaysSample:
    span_fields: frozenset[str] = frozenset()

    def evaluate(self, trace_id, trace):
        return SAMPLED


class Latency:
    span_fields = frozenset(("start_time_unix_nano", "end_time_unix_nano"))

    def __init__(self, cfg: LatencyConfig):
        self.threshold = cfg.threshold_ms
        self.upper = cfg.upper_threshold_ms

    def evaluate(self, trace_id, trace):
        lo, hi = None, None
        for span in trace.spans():
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


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class _AttributePolicy:
    """Matches one attribute key's value on a resource or any span of the trace."""

    span_fields = frozenset(("attributes",))

    def __init__(self, key: str, invert: bool):
        self.key, self.invert = key, invert

    def _matches(self, value) -> bool:
        raise NotImplementedError

    def evaluate(self, trace_id, trace):
        return _has_resource_or_span(trace, self.key, self._matches, self.invert)


class NumericAttribute(_AttributePolicy):
    def __init__(self, cfg: NumericAttributeConfig):
        super().__init__(cfg.key, cfg.invert_match)
        self.lo = _INT64_MIN if cfg.min_value is None else cfg.min_value
        self.hi = _INT64_MAX if cfg.max_value is None else cfg.max_value

    def _matches(self, v) -> bool:
        kind = v.WhichOneof("value")
        if kind == "int_value":
            return self.lo <= v.int_value <= self.hi
        if kind == "double_value":
            return self.lo <= v.double_value <= self.hi
        return False


class StringAttribute(_AttributePolicy):
    def __init__(self, cfg: StringAttributeConfig):
        super().__init__(cfg.key, cfg.invert_match)
        if cfg.enabled_regex_matching:
            self._regexes = [re.compile(v) for v in cfg.values]
            self._cache: OrderedDict[str, bool] = OrderedDict()
            self._cache_size = cfg.cache_max_size
            self._match_str: Callable[[str], bool] = self._regex_match
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


class BooleanAttribute(_AttributePolicy):
    def __init__(self, cfg: BooleanAttributeConfig):
        super().__init__(cfg.key, cfg.invert_match)
        self.value = cfg.value

    def _matches(self, v) -> bool:
        return v.WhichOneof("value") == "bool_value" and v.bool_value == self.value


class StatusCode:
    span_fields = frozenset(("status",))

    def __init__(self, cfg: StatusCodeConfig):
        self.codes = frozenset(STATUS_CODES[c] for c in cfg.status_codes)

    def evaluate(self, trace_id, trace):
        codes = self.codes
        for span in trace.spans():
            if span.status.code in codes:
                return SAMPLED
        return NOT_SAMPLED


class Probabilistic:
    span_fields: frozenset[str] = frozenset()

    def __init__(self, cfg: ProbabilisticConfig):
        self.salt_state = salt_hash(cfg.hash_salt)
        self.threshold = ratio_threshold_u64(cfg.sampling_percentage / 100)

    def evaluate(self, trace_id, trace):
        return SAMPLED if salted_hash_sampled(trace_id, self.salt_state, self.threshold) else NOT_SAMPLED


class RateLimiting:
    span_fields: frozenset[str] = frozenset()

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
    span_fields: frozenset[str] = frozenset()

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
        key, prefix = self.key, self.key + "="
        for span in trace.spans():
            ts = span.trace_state
            if not ts or prefix not in ts:
                continue
            try:
                members = tracestate_members(ts)
            except TraceStateError:  # as Go: an unparsable tracestate matches nothing
                continue
            for k, v in members:
                if k == key and v in self.values:
                    return SAMPLED
        return NOT_SAMPLED


class And:
    """Sampled when every sub-policy samples."""

    def __init__(self, subs: list[Policy]):
        self.subs = subs
        self.span_fields = frozenset().union(*(sub.span_fields for sub in subs))

    def evaluate(self, trace_id, trace):
        for sub in self.subs:
            if sub.evaluate(trace_id, trace) in (NOT_SAMPLED, INVERT_NOT_SAMPLED):
                return NOT_SAMPLED
        return SAMPLED


class Drop(And):
    """DROPPED when every sub-policy samples: the trace is not sampled, whatever the others say."""

    def evaluate(self, trace_id, trace):
        return DROPPED if super().evaluate(trace_id, trace) == SAMPLED else NOT_SAMPLED


class Composite:
    """Rate-limits what each sub-policy may sample, per second, within a total budget."""

    def __init__(self, subs: list[tuple[Policy, int]], max_total: int, clock=time.time):
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


_LEAF_BUILDERS: dict[str, Callable[[Any], Policy]] = {
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


def build_policy(cfg: LeafPolicyConfig) -> Policy:
    if cfg.type == "and":
        return And([build_policy(p) for p in cfg.and_.and_sub_policy])  # type: ignore[attr-defined]  # a subclass's
    if cfg.type == "drop":
        return Drop([build_policy(p) for p in cfg.drop.drop_sub_policy])  # type: ignore[attr-defined]
    if cfg.type == "composite":
        c = cfg.composite  # type: ignore[attr-defined]
        total = c.max_total_spans_per_second
        default = total / len(c.composite_sub_policy)
        alloc = {a.policy: (a.percent / 100 * total if a.percent > 0 else default) for a in c.rate_allocation}
        by_name = {p.name: p for p in c.composite_sub_policy}
        order = list(c.policy_order) or [p.name for p in c.composite_sub_policy]
        order += [p.name for p in c.composite_sub_policy if p.name not in order]
        return Composite([(build_policy(by_name[n]), int(alloc.get(n, 0))) for n in order], total)
    return _LEAF_BUILDERS[cfg.type](cfg)
