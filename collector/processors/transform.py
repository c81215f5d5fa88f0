"""The ``transform`` processor: Go's OTTL statements (``ottl_statements``) on traces, metrics and logs.

``trace_statements``, ``metric_statements`` and ``log_statements`` take Go's two shapes: groups
(``{context: span, conditions: [...], statements: [...]}``; a group's statements run on the items any of
its conditions holds for) and plain strings whose paths name their context (``set(span.attributes["x"],
"y")``; the most specific context named is the one it runs in).  Contexts: ``resource`` and ``span`` for
traces, ``resource``, ``metric`` and ``datapoint`` for metrics, ``resource`` and ``log`` for logs (Go's
``scope`` and ``spanevent`` are refused by name).  ``error_mode``, per processor or group, as Go's:
``propagate`` refuses the data when a statement fails on an item, ``ignore`` logs it, ``silent`` does not.
Requests are parsed whole (statements may read and write any field) and counts do not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch, PermanentError
from ..ottl import OTTLError, compile_condition
from ..ottl_statements import compile_statement

__all__ = ["FACTORY", "TransformProcessorConfig", "TransformProcessor"]

_CONTEXTS = {
    "traces": ("resource", "span"),
    "metrics": ("resource", "metric", "datapoint"),
    "logs": ("resource", "log"),
}
_RESOURCES = {"traces": "resource_spans", "metrics": "resource_metrics", "logs": "resource_logs"}
_SCOPES = {"traces": "scope_spans", "metrics": "scope_metrics", "logs": "scope_logs"}
_KEYS = {"traces": "trace_statements", "metrics": "metric_statements", "logs": "log_statements"}
_SPECIFIC_FIRST = ("datapoint", "metric", "log", "span", "resource")
_PREFIX_RE = re.compile(r"(?<![\w.\"])(datapoint|metric|log|span|spanevent|scope|resource)\.")
_ERROR_MODES = ("propagate", "ignore", "silent")


@dataclass
class _Group:
    context: str
    statements: list[str]
    conditions: list[str]
    error_mode: str
    path: str
    flat: bool = False  # written as one statement naming its context


def _inferred_context(text: str, signal: str) -> str:
    named = set(_PREFIX_RE.findall(text))
    for refused in ("spanevent", "scope"):
        if refused in named:
            raise OTTLError(f"the {refused} context is not supported here")
    for context in _SPECIFIC_FIRST:
        if context in named and context in _CONTEXTS[signal]:
            return context
    raise OTTLError(
        f"name the context in the statement's paths ({', '.join(p + '.' for p in _CONTEXTS[signal])}) "
        "or write it as a group with context:"
    )


def _groups(raw: list[Any], key: str, default_mode: str) -> Iterator[_Group]:
    signal = next(s for s, k in _KEYS.items() if k == key)
    for i, entry in enumerate(raw):
        path = f"{key}[{i}]"
        if isinstance(entry, str):
            try:
                context = _inferred_context(entry, signal)
            except OTTLError as e:
                raise ConfigError(path, str(e)) from None
            yield _Group(context, [entry], [], default_mode, path, flat=True)
            continue
        if not isinstance(entry, dict):
            raise ConfigError(path, "expected a statement or a group (context, statements, conditions)")
        unknown = set(entry) - {"context", "statements", "conditions", "error_mode"}
        if unknown:
            valid = "valid keys: context, statements, conditions, error_mode"
            raise ConfigError(f"{path}.{sorted(unknown)[0]}", f"unknown key ({valid})")
        context = entry.get("context", "")
        if context in ("scope", "spanevent"):
            raise ConfigError(f"{path}.context", f"the {context} context is not supported here")
        if context not in _CONTEXTS[signal]:
            raise ConfigError(f"{path}.context", f"must be one of {', '.join(_CONTEXTS[signal])}")
        statements, conditions = entry.get("statements") or [], entry.get("conditions") or []
        if not isinstance(statements, list) or not statements or not all(isinstance(s, str) for s in statements):
            raise ConfigError(f"{path}.statements", "expected a list of statements")
        if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
            raise ConfigError(f"{path}.conditions", "expected a list of conditions")
        mode = entry.get("error_mode") or default_mode
        if mode not in _ERROR_MODES:
            raise ConfigError(f"{path}.error_mode", "must be propagate, ignore or silent")
        yield _Group(context, statements, conditions, mode, path)


@dataclass
class TransformProcessorConfig(ComponentConfig):
    error_mode: str = "propagate"  # a statement failing on an item: propagate refuses the data; ignore logs it
    trace_statements: list[Any] = field(default_factory=list)  # groups or statements naming their context
    metric_statements: list[Any] = field(default_factory=list)
    log_statements: list[Any] = field(default_factory=list)

    def validate(self) -> None:
        if self.error_mode not in _ERROR_MODES:
            raise ConfigError("error_mode", "must be propagate, ignore or silent")
        for key in _KEYS.values():
            for group in _groups(getattr(self, key), key, self.error_mode):
                for name, texts, compile_one in (
                    ("statements", group.statements, compile_statement),
                    ("conditions", group.conditions, compile_condition),
                ):
                    for j, text in enumerate(texts):
                        try:
                            compile_one(text, group.context)
                        except OTTLError as e:
                            where = group.path if group.flat else f"{group.path}.{name}[{j}]"
                            raise ConfigError(where, str(e)) from None

    def validate_signal(self, signal: str) -> None:
        if not getattr(self, _KEYS[signal]):
            raise ConfigError(_KEYS[signal], f"a transform in a {signal} pipeline needs {_KEYS[signal]}")


class _Compiled:
    def __init__(self, group: _Group, log):
        self.context = group.context
        self.statements = [(text, compile_statement(text, group.context)) for text in group.statements]
        self.conditions = [compile_condition(text, group.context) for text in group.conditions]
        self.error_mode = group.error_mode
        self.log = log

    def apply(self, item: dict) -> None:
        if self.conditions and not any(c(item) for c in self.conditions):
            return
        for text, statement in self.statements:
            try:
                statement(item)
            except Exception as e:  # a value a function cannot take
                if self.error_mode == "propagate":
                    raise PermanentError(f"transform statement {text!r} failed: {e}") from None
                if self.error_mode == "ignore":
                    self.log.warning("transform statement failed; the item is left as it was: %s: %s", text, e)


def _items(signal: str, message, context: str) -> Iterator[dict]:
    """Every item of ``context`` in the request, as the dict OTTL functions read."""
    resources = getattr(message, _RESOURCES[signal])
    for r in resources:
        if context == "resource":
            yield {"resource": r.resource}
            continue
        for s in getattr(r, _SCOPES[signal]):
            base = {"resource": r.resource, "scope": s.scope}
            if context == "span":
                for span in s.spans:
                    yield {**base, "span": span}
            elif context == "log":
                for record in s.log_records:
                    yield {**base, "record": record}
            else:
                for metric in s.metrics:
                    if context == "metric":
                        yield {**base, "metric": metric}
                        continue
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        for point in getattr(metric, kind).data_points:
                            yield {**base, "metric": metric, "point": point}


class TransformProcessor(Component):
    def __init__(self, settings, config: TransformProcessorConfig, next_consumer):
        self._next = next_consumer
        self._signal = settings.signal
        key = _KEYS[self._signal]
        self._groups = [_Compiled(g, settings.logger) for g in _groups(getattr(config, key), key, config.error_mode)]

    async def consume(self, batch: Batch) -> None:
        message = batch.request_class.FromString(batch.to_bytes())
        for group in self._groups:
            for item in _items(self._signal, message, group.context):
                group.apply(item)
        await self._next.consume(type(batch)(None, message.SerializeToString(), batch.item_count, batch.metadata))


def _create(settings, config: TransformProcessorConfig, next_consumer) -> TransformProcessor:
    return TransformProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="transform", config_class=TransformProcessorConfig, create=_create, signals=SIGNALS
)
