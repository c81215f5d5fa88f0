"""The tail sampler's configuration: the Go processor's config types (``policies``
with their per-type option blocks, ``and`` / ``drop`` / ``composite`` nesting,
``decision_cache``), defaults and validation.

Validation runs once, through ``ComponentConfig.from_mapping``'s tree walk
(``otel_lite.collector.component.validate_tree``), which descends into the policy lists and
validates every nested block before its parent: a ``validate`` here checks only
its own fields and cross-field rules, never its children again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from ...component import ComponentConfig, ConfigError, Duration, validate_tree

__all__ = [
    "LatencyConfig",
    "NumericAttributeConfig",
    "ProbabilisticConfig",
    "StatusCodeConfig",
    "StringAttributeConfig",
    "BooleanAttributeConfig",
    "RateLimitingConfig",
    "SpanCountConfig",
    "TraceStateConfig",
    "LEAF_TYPES",
    "LeafPolicyConfig",
    "AndConfig",
    "DropConfig",
    "CompositeSubPolicyConfig",
    "RateAllocationConfig",
    "CompositeConfig",
    "PolicyConfig",
    "DecisionCacheConfig",
    "TailSamplingConfig",
    "STATUS_CODES",
]


def _check_upper_bound(cfg, lower: str, upper: str, unset) -> None:
    """``upper`` (when set, i.e. not ``unset``) must not be below ``lower`` (when set)."""
    lo, hi = getattr(cfg, lower), getattr(cfg, upper)
    if hi != unset and lo is not None and hi < lo:
        raise ConfigError(upper, f"must be greater than or equal to {lower}")


@dataclass
class _KeyedConfig(ComponentConfig):
    """A policy reading one attribute (or tracestate) key."""

    key: str = ""

    def validate(self):
        if not self.key:
            raise ConfigError("key", "must be set")


@dataclass
class LatencyConfig(ComponentConfig):
    threshold_ms: int = 0
    upper_threshold_ms: int = 0

    def validate(self):
        _check_upper_bound(self, "threshold_ms", "upper_threshold_ms", unset=0)


@dataclass
class NumericAttributeConfig(_KeyedConfig):
    min_value: int | None = None
    max_value: int | None = None
    invert_match: bool = False

    def validate(self):
        super().validate()
        _check_upper_bound(self, "min_value", "max_value", unset=None)


@dataclass
class ProbabilisticConfig(ComponentConfig):
    hash_salt: str = ""
    sampling_percentage: float = 0.0

    def validate(self):
        if not 0 <= self.sampling_percentage <= 100:
            raise ConfigError("sampling_percentage", "must be between 0 and 100")


STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}  # OTLP Status.code


@dataclass
class StatusCodeConfig(ComponentConfig):
    status_codes: list[str] = field(default_factory=list)

    def validate(self):
        if not self.status_codes:
            raise ConfigError("status_codes", "at least one status code must be set")
        for i, code in enumerate(self.status_codes):
            if code not in STATUS_CODES:
                raise ConfigError(f"status_codes[{i}]", f"unknown status code {code!r} (use OK, ERROR or UNSET)")


@dataclass
class StringAttributeConfig(_KeyedConfig):
    values: list[str] = field(default_factory=list)
    enabled_regex_matching: bool = False
    cache_max_size: int = 10
    invert_match: bool = False

    def validate(self):
        super().validate()
        if self.enabled_regex_matching:
            for i, v in enumerate(self.values):
                try:
                    re.compile(v)
                except re.error as e:
                    raise ConfigError(f"values[{i}]", f"invalid regular expression: {e}") from None


@dataclass
class BooleanAttributeConfig(_KeyedConfig):
    value: bool = False
    invert_match: bool = False


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
        _check_upper_bound(self, "min_spans", "max_spans", unset=0)


@dataclass
class TraceStateConfig(_KeyedConfig):
    values: list[str] = field(default_factory=list)

    def validate(self):
        super().validate()
        if not self.values:
            raise ConfigError("values", "at least one value must be set")


LEAF_TYPES = (
    "always_sample",
    "latency",
    "numeric_attribute",
    "probabilistic",
    "status_code",
    "string_attribute",
    "rate_limiting",
    "span_count",
    "boolean_attribute",
    "trace_state",
)


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

    allowed_types: ClassVar[tuple[str, ...]] = LEAF_TYPES

    def validate(self):
        if not self.name:
            raise ConfigError("name", "every policy needs a name")
        if self.type not in self.allowed_types:
            raise ConfigError(
                "type", f"unknown or unsupported policy type {self.type!r} (use one of {', '.join(self.allowed_types)})"
            )
        # a type whose options block is absent gets its defaults, validated like a given block
        # (the tree walk passed a None there, so this is their one validation)
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


@dataclass
class DropConfig(ComponentConfig):
    drop_sub_policy: list[LeafPolicyConfig] = field(default_factory=list)

    def validate(self):
        if not self.drop_sub_policy:
            raise ConfigError("drop_sub_policy", "at least one sub-policy is required")


@dataclass
class CompositeSubPolicyConfig(LeafPolicyConfig):
    and_: AndConfig | None = field(default=None, metadata={"key": "and"})

    allowed_types: ClassVar[tuple[str, ...]] = (*LEAF_TYPES, "and")


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

    allowed_types: ClassVar[tuple[str, ...]] = (*LEAF_TYPES, "and", "drop", "composite")


_OPTION_CLASSES = {
    "latency": LatencyConfig,
    "numeric_attribute": NumericAttributeConfig,
    "probabilistic": ProbabilisticConfig,
    "status_code": StatusCodeConfig,
    "string_attribute": StringAttributeConfig,
    "rate_limiting": RateLimitingConfig,
    "span_count": SpanCountConfig,
    "boolean_attribute": BooleanAttributeConfig,
    "trace_state": TraceStateConfig,
    "and": AndConfig,
    "drop": DropConfig,
    "composite": CompositeConfig,
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
        seen = set()
        for i, p in enumerate(self.policies):
            if p.name in seen:
                raise ConfigError(f"policies[{i}].name", f"duplicate policy name {p.name!r}")
            seen.add(p.name)
