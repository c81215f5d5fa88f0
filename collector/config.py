"""Collector configuration: the one entry point over its three parts, as Go's ``confmap`` and ``otelcol``.

- ``config_loading``: sources and their providers (``file:``/plain path, ``env:VAR``, ``yaml:<inline>``),
  the YAML 1.2 reader, merging several ``--config`` sources, ``${env:VAR}`` / ``${env:VAR:-default}``
  expansion and ``--set`` overrides → the resolved mapping (``load_raw``);
- ``config_validation``: that mapping → a typed ``CollectorConfig`` through the component factories, every
  error with its YAML path (``build_config``);
- ``config_redaction``: the resolved mapping with its secrets masked, for ``print-config`` (``redact_secrets``).

Each part imports only the ones before it; this module re-exports their public names and composes them
(``load_config``), so ``from collector.config import X`` keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config_loading import MAX_CONFIG_BYTES, ConfigErrors, dump_yaml, expand_env, load_raw, parse_yaml
from .config_redaction import REDACTED, redact_secrets
from .config_validation import (
    KINDS,
    TOP_LEVEL_KEYS,
    CollectorConfig,
    ComponentEntry,
    LogsTelemetryConfig,
    Lookup,
    MetricsTelemetryConfig,
    PipelineConfig,
    ServiceConfig,
    TelemetryConfig,
    build_config,
    resolved_ids,
    split_endpoint,
)

__all__ = [
    "ConfigErrors",
    "CollectorConfig",
    "ComponentEntry",
    "PipelineConfig",
    "ServiceConfig",
    "TelemetryConfig",
    "MetricsTelemetryConfig",
    "LogsTelemetryConfig",
    "KINDS",
    "TOP_LEVEL_KEYS",
    "MAX_CONFIG_BYTES",
    "REDACTED",
    "Lookup",
    "load_raw",
    "expand_env",
    "split_endpoint",
    "resolved_ids",
    "build_config",
    "load_config",
    "redact_secrets",
    "parse_yaml",
    "dump_yaml",
]


def load_config(
    sources: list[str], overrides: Sequence[str] = (), env=None, lookup: Lookup | None = None
) -> CollectorConfig:
    """``load_raw`` then ``build_config``: the sources, merged, expanded and overridden, validated."""
    return build_config(load_raw(sources, overrides, env), lookup)
