"""Redacting secrets from a resolved configuration, for ``print-config`` (Go's ``configopaque``)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from . import registry
from .component import ComponentID, decode
from .config_validation import KINDS, Lookup

__all__ = ["REDACTED", "redact_secrets"]

REDACTED = "[REDACTED]"


def redact_secrets(raw: Any, lookup: Lookup | None = None) -> Any:
    """A copy of a resolved config whose secret values (config fields marked
    ``metadata={"secret": True}``: tokens, exporter headers) read ``[REDACTED]``,
    for ``print-config``.  Components that do not decode are left as they are."""
    lookup = lookup or registry.lookup
    out = copy.deepcopy(raw)
    if not isinstance(out, dict):
        return out
    for section, kind in KINDS.items():
        components = out.get(section)
        if not isinstance(components, dict):
            continue
        for key, data in components.items():
            try:
                factory = lookup(kind, ComponentID.parse(key).type)
                if factory is None:
                    continue
                decoded = decode(factory.config_class, data, "")
            except Exception:  # an invalid component: validate reports it; nothing to map secrets from
                continue
            components[key] = _redact(decoded, data)
    return out


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return dict.fromkeys(value, REDACTED)
    if isinstance(value, list):
        return [REDACTED for _ in value]
    return value if value in (None, "") else REDACTED


def _redact(obj: Any, data: Any) -> Any:
    if dataclasses.is_dataclass(obj) and isinstance(data, dict):
        for f in dataclasses.fields(obj):
            key = f.metadata.get("key", f.name)
            if key in data:
                data[key] = _mask(data[key]) if f.metadata.get("secret") else _redact(getattr(obj, f.name), data[key])
    elif isinstance(obj, (list, tuple)) and isinstance(data, list) and len(obj) == len(data):
        for i, item in enumerate(obj):
            data[i] = _redact(item, data[i])
    elif isinstance(obj, dict) and isinstance(data, dict):
        for k, item in obj.items():
            if k in data:
                data[k] = _redact(item, data[k])
    return data
