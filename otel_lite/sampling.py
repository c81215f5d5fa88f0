"""Samplers, with the decisions of opentelemetry-sdk for the same inputs.

Every built-in sampler implements both the SDK's public ``should_sample``
(so it can be used anywhere an SDK sampler can) and a private
``_decide(parent_span_context, trace_id)`` that the tracer calls directly:
it skips building a ``SamplingResult`` and re-reading the parent from the
context, which is most of what sampling costs in the official SDK.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from types import MappingProxyType

from opentelemetry import trace as trace_api
from opentelemetry.trace.span import TraceState

from .config import env_str

_log = logging.getLogger("otel_lite.sampling")


class Decision(enum.IntEnum):
    DROP = 0
    RECORD_ONLY = 1
    RECORD_AND_SAMPLE = 2

    def is_recording(self) -> bool:
        return self is not Decision.DROP

    def is_sampled(self) -> bool:
        return self is Decision.RECORD_AND_SAMPLE


DROP, RECORD_ONLY, RECORD_AND_SAMPLE = Decision.DROP, Decision.RECORD_ONLY, Decision.RECORD_AND_SAMPLE


class SamplingResult:
    __slots__ = ("decision", "attributes", "trace_state")

    def __init__(self, decision: Decision, attributes=None, trace_state: TraceState | None = None):
        self.decision = decision
        self.attributes = MappingProxyType(dict(attributes)) if attributes else MappingProxyType({})
        self.trace_state = trace_state

    def __repr__(self) -> str:
        return f"SamplingResult({self.decision!r}, attributes={dict(self.attributes)!r})"


def _parent_span_context(parent_context) -> trace_api.SpanContext | None:
    sc = trace_api.get_current_span(parent_context).get_span_context()
    return sc if sc.is_valid else None


class Sampler:
    """Base class.  Subclasses implement ``_decide``; custom samplers may
    instead override ``should_sample`` (then the tracer calls that)."""

    def _decide(self, parent: trace_api.SpanContext | None, trace_id: int) -> Decision:
        raise NotImplementedError

    def should_sample(
        self,
        parent_context,
        trace_id: int,
        name: str,
        kind=None,
        attributes=None,
        links: Sequence | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = _parent_span_context(parent_context)
        decision = self._decide(parent, trace_id)
        return SamplingResult(
            decision, attributes if decision else None, parent.trace_state if parent is not None else None
        )

    def get_description(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return self.get_description()


class StaticSampler(Sampler):
    def __init__(self, decision: Decision):
        self._decision = decision

    def _decide(self, parent, trace_id) -> Decision:
        return self._decision

    def get_description(self) -> str:
        return "AlwaysOnSampler" if self._decision is RECORD_AND_SAMPLE else "AlwaysOffSampler"


ALWAYS_ON = StaticSampler(RECORD_AND_SAMPLE)
ALWAYS_OFF = StaticSampler(DROP)


class TraceIdRatioBased(Sampler):
    """Samples a fraction of traces by the low 64 bits of the trace id,
    exactly as opentelemetry-sdk does (so both SDKs agree within a trace)."""

    TRACE_ID_LIMIT = (1 << 64) - 1

    def __init__(self, rate: float):
        if not 0.0 <= rate <= 1.0:
            raise ValueError("Probability must be in range [0.0, 1.0].")
        self._rate = rate
        self._bound = self.get_bound_for_rate(rate)

    @classmethod
    def get_bound_for_rate(cls, rate: float) -> int:
        return round(rate * (cls.TRACE_ID_LIMIT + 1))

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def bound(self) -> int:
        return self._bound

    def _decide(self, parent, trace_id) -> Decision:
        return RECORD_AND_SAMPLE if trace_id & 0xFFFFFFFFFFFFFFFF < self._bound else DROP

    def get_description(self) -> str:
        return f"TraceIdRatioBased{{{self._rate}}}"


class ParentBased(Sampler):
    """Follows the parent's sampled flag; ``root`` decides for root spans."""

    def __init__(
        self,
        root: Sampler,
        remote_parent_sampled: Sampler = ALWAYS_ON,
        remote_parent_not_sampled: Sampler = ALWAYS_OFF,
        local_parent_sampled: Sampler = ALWAYS_ON,
        local_parent_not_sampled: Sampler = ALWAYS_OFF,
    ):
        self._root = root
        self._remote_parent_sampled = remote_parent_sampled
        self._remote_parent_not_sampled = remote_parent_not_sampled
        self._local_parent_sampled = local_parent_sampled
        self._local_parent_not_sampled = local_parent_not_sampled
        # indexed by 2*is_remote + sampled
        self._by_parent = tuple(
            _decider(s)
            for s in (local_parent_not_sampled, local_parent_sampled, remote_parent_not_sampled, remote_parent_sampled)
        )
        self._root_decide = _decider(root)

    def _decide(self, parent, trace_id) -> Decision:
        if parent is None:
            return self._root_decide(None, trace_id)
        # a SpanContext is a tuple: (trace_id, span_id, is_remote, trace_flags, trace_state, is_valid)
        return self._by_parent[(parent[2] << 1) | (parent[3] & 1)](parent, trace_id)

    def get_description(self) -> str:
        return (
            f"ParentBased{{root:{self._root.get_description()},remoteParentSampled:"
            f"{self._remote_parent_sampled.get_description()},remoteParentNotSampled:"
            f"{self._remote_parent_not_sampled.get_description()},localParentSampled:"
            f"{self._local_parent_sampled.get_description()},localParentNotSampled:"
            f"{self._local_parent_not_sampled.get_description()}}}"
        )


def constant_decisions(sampler) -> tuple:
    """(decision for root spans, decisions by 2*is_remote + sampled for child spans), each None
    where the decision is not a constant.  Lets the tracer skip the sampler call for the usual
    ParentBased(ALWAYS_ON) configuration."""
    if isinstance(sampler, StaticSampler):
        return sampler._decision, (sampler._decision,) * 4
    if type(sampler) in (ParentBased, ParentBasedTraceIdRatio):
        root = sampler._root._decision if isinstance(sampler._root, StaticSampler) else None
        by_parent = tuple(
            d._decision if isinstance(d, StaticSampler) else None
            for d in (
                sampler._local_parent_not_sampled,
                sampler._local_parent_sampled,
                sampler._remote_parent_not_sampled,
                sampler._remote_parent_sampled,
            )
        )
        return root, (by_parent if None not in by_parent else None)
    return None, None


def _decider(sampler):
    """A function (parent, trace_id) -> Decision for any sampler."""
    if isinstance(sampler, StaticSampler):
        decision = sampler._decision
        return lambda parent, trace_id: decision
    if isinstance(sampler, Sampler) and type(sampler).should_sample is Sampler.should_sample:
        return sampler._decide

    def custom(parent, trace_id):  # a custom delegate: go through its public interface
        ctx = trace_api.set_span_in_context(trace_api.NonRecordingSpan(parent)) if parent is not None else None
        return _as_decision(sampler.should_sample(ctx, trace_id, "").decision)

    return custom


DEFAULT_ON = ParentBased(ALWAYS_ON)
DEFAULT_OFF = ParentBased(ALWAYS_OFF)


class ParentBasedTraceIdRatio(ParentBased):
    def __init__(self, rate: float):
        super().__init__(TraceIdRatioBased(rate))


def _as_decision(decision) -> Decision:
    """Accept opentelemetry-sdk's Decision (or anything with the same values)."""
    if isinstance(decision, Decision):
        return decision
    return Decision(getattr(decision, "value", decision))


_BY_NAME = {
    "always_on": lambda arg: ALWAYS_ON,
    "always_off": lambda arg: ALWAYS_OFF,
    "parentbased_always_on": lambda arg: DEFAULT_ON,
    "parentbased_always_off": lambda arg: DEFAULT_OFF,
    "traceidratio": lambda arg: TraceIdRatioBased(arg),
    "parentbased_traceidratio": lambda arg: ParentBasedTraceIdRatio(arg),
}


def _ratio_arg(text: str | None) -> float:
    if text is None:
        return 1.0
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        _log.warning("ignoring invalid OTEL_TRACES_SAMPLER_ARG %r: expected a number in [0, 1]; using 1.0", text)
        return 1.0
    return rate


def sampler_from_name(name: str | None, arg: str | None = None) -> Sampler:
    """A sampler by its OTEL_TRACES_SAMPLER name; entry points in group
    ``opentelemetry_traces_sampler`` (factories taking the argument string)
    are honoured as in opentelemetry-sdk.  Unknown names warn and give the default."""
    if not name:
        return DEFAULT_ON
    name = name.strip().lower()
    factory = _BY_NAME.get(name)
    if factory is not None:
        return factory(_ratio_arg(arg)) if "ratio" in name else factory(None)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="opentelemetry_traces_sampler", name=name):
            return ep.load()(arg or "")
    except Exception:  # a broken plugin must not break the application
        _log.warning("failed to load sampler %r", name, exc_info=True)
    _log.warning("unknown OTEL_TRACES_SAMPLER %r, using parentbased_always_on", name)
    return DEFAULT_ON


def sampler_from_env() -> Sampler:
    return sampler_from_name(env_str("OTEL_TRACES_SAMPLER"), env_str("OTEL_TRACES_SAMPLER_ARG"))
