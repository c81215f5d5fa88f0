"""Tail sampling processor (type ``tail_sampling``), modelled on contrib's
``processor/tailsamplingprocessor``.

One job per module:

* ``config``: the Go config types (policies and their option blocks), defaults and validation;
* ``policies``: the ``Decision`` enum, the ``Policy`` protocol, every policy type, the rule
  combining decisions, ``build_policy``;
* ``buffer``: the buffered traces (bounded, oldest evicted) and the decision caches;
* ``processor``: the component (receive, decide on a timer, forward) and ``FACTORY``.

The sampling arithmetic the ``probabilistic`` policy shares with the
``probabilistic_sampler`` processor, and the tracestate parser, are in ``otel_lite.collector.sampling``.
"""

from __future__ import annotations

from .buffer import DecisionCache, Trace, TraceBuffer
from .config import (
    LEAF_TYPES,
    AndConfig,
    BooleanAttributeConfig,
    CompositeConfig,
    CompositeSubPolicyConfig,
    DecisionCacheConfig,
    DropConfig,
    LatencyConfig,
    LeafPolicyConfig,
    NumericAttributeConfig,
    PolicyConfig,
    ProbabilisticConfig,
    RateAllocationConfig,
    RateLimitingConfig,
    SpanCountConfig,
    StatusCodeConfig,
    StringAttributeConfig,
    TailSamplingConfig,
    TraceStateConfig,
)
from .policies import (
    AlwaysSample,
    And,
    BooleanAttribute,
    Composite,
    Decision,
    Drop,
    Latency,
    NumericAttribute,
    Policy,
    Probabilistic,
    RateLimiting,
    SpanCount,
    StatusCode,
    StringAttribute,
    TraceState,
    build_policy,
    final_decision,
)
from .processor import FACTORY, TailSamplingProcessor

__all__ = [
    "FACTORY",
    "TailSamplingProcessor",
    "TailSamplingConfig",
    # config
    "LEAF_TYPES",
    "PolicyConfig",
    "LeafPolicyConfig",
    "CompositeSubPolicyConfig",
    "AndConfig",
    "DropConfig",
    "CompositeConfig",
    "RateAllocationConfig",
    "DecisionCacheConfig",
    "LatencyConfig",
    "NumericAttributeConfig",
    "ProbabilisticConfig",
    "StatusCodeConfig",
    "StringAttributeConfig",
    "BooleanAttributeConfig",
    "RateLimitingConfig",
    "SpanCountConfig",
    "TraceStateConfig",
    # policies
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
    # buffer
    "Trace",
    "TraceBuffer",
    "DecisionCache",
]
