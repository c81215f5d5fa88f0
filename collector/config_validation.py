"""Validating a resolved configuration into a typed ``CollectorConfig`` (Go's ``otelcol`` config checks).

Each component's mapping is decoded through its factory's config class; the service section's pipelines,
extensions and telemetry are checked, ids resolved, and every component's extension references checked
against ``service.extensions``.  Every error is collected with its YAML path, so ``validate`` reports
them all at once (``ConfigErrors``).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from . import registry
from .component import ComponentConfig, ComponentID, ConfigError, Factory, unknown_key
from .config_loading import ConfigErrors
from .consumer import SIGNALS
from .telemetry_config import (
    LogsTelemetryConfig,
    MetricsTelemetryConfig,
    TelemetryConfig,
    TracesTelemetryConfig,
    split_endpoint,
)
from .unsupported_components import UNSUPPORTED
from .unsupported_components import explain as explain_unsupported

__all__ = [
    "KINDS",
    "TOP_LEVEL_KEYS",
    "Lookup",
    "CollectorConfig",
    "ComponentEntry",
    "PipelineConfig",
    "ServiceConfig",
    "TelemetryConfig",
    "MetricsTelemetryConfig",
    "LogsTelemetryConfig",
    "TracesTelemetryConfig",
    "resolved_ids",
    "connector_routes",
    "connector_outputs",
    "split_endpoint",
    "build_config",
]

log = logging.getLogger("otel_lite.collector.config")

KINDS = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "connectors": "connector",
    "extensions": "extension",
}
TOP_LEVEL_KEYS = (*KINDS, "service")


# ---------------------------------------------------------------------------
# The service section


@dataclass
class PipelineConfig(ComponentConfig):
    receivers: list[str] = field(default_factory=list)  # where data enters (receivers or connectors); one at least
    processors: list[str] = field(default_factory=list)  # run in order on everything the receivers take
    exporters: list[str] = field(default_factory=list)  # where it goes (exporters or connectors); one at least


def resolved_ids(ids: list[str]) -> list[ComponentID]:
    """A pipeline's ids for the type checker: strings in the YAML, ``ComponentID`` once ``build_config`` resolved
    them (``_resolve_ids``)."""
    return ids  # type: ignore[return-value]


@dataclass
class ServiceConfig:
    extensions: list[ComponentID] = field(default_factory=list)
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)  # "traces[/name]" -> pipeline
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)


@dataclass
class ComponentEntry:
    id: ComponentID
    kind: str
    factory: Factory
    config: Any


@dataclass
class CollectorConfig:
    receivers: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    processors: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    exporters: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    connectors: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    extensions: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    raw: dict = field(default_factory=dict)

    def section(self, kind: str) -> dict[ComponentID, ComponentEntry]:
        return getattr(self, kind + "s")


Lookup = Callable[[str, str], "Factory | None"]


def _decode_components(raw: Any, section: str, lookup: Lookup, errors: list, defined: set) -> dict:
    kind = KINDS[section]
    out: dict[ComponentID, ComponentEntry] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        errors.append(ConfigError(section, f"expected a mapping, got {type(raw).__name__}"))
        return out
    for key, data in raw.items():
        path = f"{section}.{key}"
        try:
            cid = ComponentID.parse(key, path)
        except ConfigError as e:
            errors.append(e)
            continue
        defined.add(cid)  # referenced ids resolve even when this one has errors (reported once, here)
        try:
            factory = lookup(kind, cid.type)
        except ImportError as e:
            errors.append(ConfigError(path, f"{kind} type {cid.type!r} could not be loaded: {e}"))
            continue
        if factory is None:
            errors.append(ConfigError(path, _unknown_type(kind, cid.type)))
            continue
        deprecation = registry.DEPRECATED.get(kind, {}).get(cid.type)
        if deprecation is not None:
            log.warning("%s: %s", path, deprecation, extra={"config_path": path})
            if isinstance(data, dict) and "loglevel" in data:  # the logging exporter's older key
                data = dict(data)
                level = str(data.pop("loglevel")).lower()
                data.setdefault("verbosity", registry.LOGLEVEL_VERBOSITY.get(level, level))
        try:
            config = factory.config_class.from_mapping(data, path)
        except ConfigError as e:
            errors.append(e)
            continue
        out[cid] = ComponentEntry(cid, kind, factory, config)
    return out


def _unknown_type(kind: str, type_name: str) -> str:
    """What to tell about a type we lack: what it is and what to do for a Go type we know of, else the
    closest name ("did you mean", Go's types we lack included, with what they are) and our list."""
    explained = explain_unsupported(kind, type_name)
    if explained is not None:
        return explained
    types = registry.available().get(kind, [])
    names = types + list(registry.ALIASES.get(kind, {})) + [t for (k, t) in UNSUPPORTED if k == kind]
    close = difflib.get_close_matches(type_name, names, n=1, cutoff=0.75)
    hint = ""
    if close:
        hint = f"did you mean {close[0]!r}? "
        lacking = explain_unsupported(kind, close[0])
        if lacking is not None:
            hint += f"(but {lacking}) "
    return f"unknown {kind} type {type_name!r} ({hint}known: {', '.join(types)})"


def _resolve_ids(ids: list[str], defined: Collection, kind: str, path: str, errors: list) -> list[ComponentID]:
    out: list[ComponentID] = []
    for i, text in enumerate(ids):
        item_path = f"{path}[{i}]"
        try:
            cid = ComponentID.parse(text, item_path)
        except ConfigError as e:
            errors.append(e)
            continue
        if cid in out:
            errors.append(ConfigError(item_path, f"{kind} {text!r} is listed more than once"))
            continue
        if cid not in defined:
            errors.append(
                ConfigError(item_path, f"references {kind} {text!r} which is not configured (add it under {kind}s:)")
            )
            continue
        out.append(cid)
    return out


_SERVICE_KEYS = ("extensions", "pipelines", "telemetry")


def _decode_service(raw: Any, defined: dict[str, set], errors: list) -> ServiceConfig:
    service = ServiceConfig()
    if raw is None:
        errors.append(ConfigError("service", "missing service section (service.pipelines is required)"))
        return service
    if not isinstance(raw, dict):
        errors.append(ConfigError("service", f"expected a mapping, got {type(raw).__name__}"))
        return service
    for key in raw:
        if key not in _SERVICE_KEYS:
            errors.append(ConfigError(f"service.{key}", unknown_key(key, list(_SERVICE_KEYS))))
    ext = raw.get("extensions")
    if ext is not None:
        if not isinstance(ext, list):
            errors.append(ConfigError("service.extensions", "expected a list of extension ids"))
        else:
            service.extensions = _resolve_ids(ext, defined["extensions"], "extension", "service.extensions", errors)
    try:
        service.telemetry = TelemetryConfig.from_mapping(raw.get("telemetry"), "service.telemetry")
    except ConfigError as e:
        errors.append(e)
    pipelines = raw.get("pipelines")
    if not pipelines:
        errors.append(ConfigError("service.pipelines", "at least one pipeline is required"))
        return service
    if not isinstance(pipelines, dict):
        errors.append(ConfigError("service.pipelines", f"expected a mapping, got {type(pipelines).__name__}"))
        return service
    for key, data in pipelines.items():
        path = f"service.pipelines.{key}"
        signal = str(key).partition("/")[0]
        if signal == "profiles":
            errors.append(
                ConfigError(path, "profiles pipelines are not supported (traces, metrics and logs pipelines are)")
            )
            continue
        try:
            ComponentID.parse(key, path)
        except ConfigError as e:
            errors.append(e)
            continue
        if signal not in SIGNALS:
            errors.append(
                ConfigError(path, f"unknown signal {signal!r}: a pipeline is traces, metrics or logs (name[/suffix])")
            )
            continue
        try:
            pipe = PipelineConfig.from_mapping(data, path)
        except ConfigError as e:
            errors.append(e)
            continue
        # a connector is listed among a pipeline's receivers or exporters
        receivers = defined["receivers"] | defined["connectors"]
        exporters = defined["exporters"] | defined["connectors"]
        pipe.receivers = _resolve_ids(pipe.receivers, receivers, "receiver", f"{path}.receivers", errors)
        pipe.processors = _resolve_ids(
            pipe.processors, defined["processors"], "processor", f"{path}.processors", errors
        )
        pipe.exporters = _resolve_ids(pipe.exporters, exporters, "exporter", f"{path}.exporters", errors)
        for kind in ("receivers", "exporters"):
            if not (data or {}).get(kind):
                errors.append(ConfigError(f"{path}.{kind}", f"must have at least one {kind[:-1]}"))
        service.pipelines[str(key)] = pipe
    return service


def build_config(raw: Any, lookup: Lookup | None = None) -> CollectorConfig:
    """Validate a resolved mapping into a ``CollectorConfig``; raises ``ConfigErrors`` with every problem."""
    lookup = lookup or registry.lookup
    errors: list[ConfigError] = []
    cfg = CollectorConfig(raw=raw if isinstance(raw, dict) else {})
    if not isinstance(raw, dict):
        raise ConfigErrors([ConfigError("", "the configuration must be a mapping")])
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            errors.append(ConfigError(str(key), unknown_key(key, list(TOP_LEVEL_KEYS))))
    defined: dict[str, set] = {section: set() for section in KINDS}
    for section in KINDS:
        setattr(cfg, section, _decode_components(raw.get(section), section, lookup, errors, defined[section]))
    cfg.service = _decode_service(raw.get("service"), defined, errors)
    _check_signals(cfg, errors)
    _check_connectors(cfg, defined, errors)
    _check_extension_refs(cfg, defined["extensions"], errors)
    if errors:
        raise ConfigErrors(errors)
    return cfg


def _check_signals(cfg: CollectorConfig, errors: list) -> None:
    """Every component of a pipeline must handle the pipeline's signal (``Factory.signals``), and an
    exporter whose config needs something per signal (``validate_signal``, e.g. ``metrics_endpoint``)
    must have it."""
    for name, pipe in cfg.service.pipelines.items():
        signal = name.partition("/")[0]
        for section in ("receivers", "processors", "exporters"):
            for i, cid in enumerate(resolved_ids(getattr(pipe, section))):
                entry = cfg.section(KINDS[section]).get(cid)
                if entry is None:
                    continue
                path = f"service.pipelines.{name}.{section}[{i}]"
                if signal not in entry.factory.signals:
                    handles = ", ".join(entry.factory.signals)
                    errors.append(
                        ConfigError(
                            path,
                            f"{entry.kind} {str(cid)!r} ({entry.factory.type}) handles {handles} only: it cannot be "
                            f"in a {signal} pipeline (remove it from this pipeline)",
                        )
                    )
                    continue
                check = getattr(entry.config, "validate_signal", None)
                if check is not None:
                    try:
                        check(signal)
                    except ConfigError as e:
                        errors.append(ConfigError(f"{section}.{cid}.{e.path}", e.message))


def _extension_refs(obj: Any, path: str):
    """(path, id text) of every config field marked ``metadata={"extension": True}`` (e.g. ``auth.authenticator``)."""
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from _extension_refs(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _extension_refs(item, f"{path}.{key}")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            sub = f"{path}.{f.metadata.get('key', f.name)}"
            if f.metadata.get("extension") and isinstance(value, str) and value:
                yield sub, value
            else:
                yield from _extension_refs(value, sub)


def _check_extension_refs(cfg: CollectorConfig, defined: set, errors: list) -> None:
    """A component in a pipeline may only name extensions that are configured and in ``service.extensions``."""
    used: set[tuple[str, ComponentID]] = set()
    for pipe in cfg.service.pipelines.values():
        used.update(("receivers", rid) for rid in resolved_ids(pipe.receivers))
        used.update(("processors", pid) for pid in resolved_ids(pipe.processors))
        used.update(("exporters", xid) for xid in resolved_ids(pipe.exporters))
    for section, cid in sorted(used, key=lambda u: (u[0], str(u[1]))):
        entry = cfg.section(KINDS[section]).get(cid)
        if entry is None:
            continue
        for path, text in _extension_refs(entry.config, f"{section}.{cid}"):
            try:
                ref = ComponentID.parse(text, path)
            except ConfigError:
                continue  # reported by the component's own validation
            if ref not in defined:
                errors.append(
                    ConfigError(
                        path, f"references extension {text!r} which is not configured (add it under extensions:)"
                    )
                )
            elif ref not in cfg.service.extensions:
                errors.append(ConfigError(path, f"extension {text!r} is not enabled: add it to service.extensions"))


def connector_routes(cfg: CollectorConfig) -> dict[tuple[ComponentID, str], list[str]]:
    """(connector id, signal) → the pipelines of that signal listing the connector under ``receivers``."""
    routes: dict[tuple[ComponentID, str], list[str]] = {}
    for name, pipe in cfg.service.pipelines.items():
        for rid in resolved_ids(pipe.receivers):
            if rid in cfg.connectors:
                routes.setdefault((rid, name.partition("/")[0]), []).append(name)
    return routes


def connector_outputs(cfg: CollectorConfig) -> dict[tuple[ComponentID, str], list[str]]:
    """(connector id, signal it is exported) → the pipelines it feeds: those listing it under
    ``receivers`` whose signal it makes of that one (the same signal for ``forward``; metrics from
    traces for ``spanmetrics``)."""
    routes = connector_routes(cfg)
    outputs: dict[tuple[ComponentID, str], list[str]] = {}
    for cid, entry in cfg.connectors.items():
        for source, target in entry.factory.signal_pairs():
            fed = routes.get((cid, target), [])
            if fed:
                outputs.setdefault((cid, source), []).extend(fed)
    return outputs


def _check_connectors(cfg: CollectorConfig, defined: dict[str, set], errors: list) -> None:
    """Go's rules: a connector id is not also a receiver's or exporter's, a connector used on one side
    of a pipeline is used on the other side by a pipeline of a signal it connects, and pipelines joined
    by connectors form no cycle."""
    for cid in sorted(defined["connectors"], key=str):
        for kind in ("receivers", "exporters"):
            if cid in defined[kind]:
                errors.append(
                    ConfigError(
                        f"connectors.{cid}",
                        f"{kind[:-1]} {str(cid)!r} has the same id: a pipeline could not tell them apart "
                        f"(rename one, e.g. {cid.type}/2)",
                    )
                )
    routes = connector_routes(cfg)
    exported: dict[tuple[ComponentID, str], list[str]] = {}
    for name, pipe in cfg.service.pipelines.items():
        for xid in resolved_ids(pipe.exporters):
            if xid in cfg.connectors:
                exported.setdefault((xid, name.partition("/")[0]), []).append(name)
    for (cid, signal), names in sorted({**routes, **exported}.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        entry = cfg.connectors[cid]
        pairs = entry.factory.signal_pairs()
        side = "receivers" if (cid, signal) in routes else "exporters"
        path = f"service.pipelines.{names[0]}.{side}"
        sources = {a for a, _ in pairs}
        targets = {b for _, b in pairs}
        if signal not in (targets if side == "receivers" else sources):
            errors.append(ConfigError(path, _wrong_side(cid, entry.factory.type, pairs, signal, side)))
        elif side == "exporters" and not any((cid, b) in routes for a, b in pairs if a == signal):
            wanted = " or ".join(sorted({b for a, b in pairs if a == signal}))
            errors.append(
                ConfigError(
                    path,
                    f"connector {str(cid)!r} is an exporter of {signal} pipeline {names[0]!r} but no {wanted} "
                    "pipeline lists it under receivers, so what it gets goes nowhere (a connector joins "
                    "pipelines: list it under the receivers of the pipeline that should get the data)",
                )
            )
        elif side == "receivers" and not any((cid, a) in exported for a, b in pairs if b == signal):
            wanted = " or ".join(sorted({a for a, b in pairs if b == signal}))
            errors.append(
                ConfigError(
                    path,
                    f"connector {str(cid)!r} is a receiver of {signal} pipeline {names[0]!r} but no {wanted} "
                    "pipeline lists it under exporters, so it never receives anything",
                )
            )
    for (cid, signal), names in sorted(routes.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        named = getattr(cfg.connectors[cid].config, "routed_pipelines", None)
        for path, name in named() if named is not None else ():
            if name not in names:
                fed = ", ".join(names)
                errors.append(
                    ConfigError(
                        f"connectors.{cid}.{path}",
                        f"pipeline {name!r} does not list connector {str(cid)!r} under receivers "
                        f"(the {signal} pipelines it feeds: {fed})",
                    )
                )
    cycle = _connector_cycle(cfg, connector_outputs(cfg))
    if cycle:
        text = " -> ".join(cycle)
        errors.append(ConfigError("service.pipelines", f"pipelines form a cycle through connectors: {text}"))


def _wrong_side(cid: ComponentID, type_name: str, pairs, signal: str, side: str) -> str:
    if all(a == b for a, b in pairs):
        handles = ", ".join(a for a, _ in pairs)
        return f"connector {str(cid)!r} ({type_name}) connects {handles} only, not {signal}"
    joined = ", ".join(f"{a} to {b}" for a, b in pairs)
    role = "receive" if side == "receivers" else "export"
    return f"connector {str(cid)!r} ({type_name}) connects {joined}: a {signal} pipeline cannot {role} it"


def _connector_cycle(cfg: CollectorConfig, outputs: dict[tuple[ComponentID, str], list[str]]) -> list[str]:
    """A cycle of pipelines joined by connectors, as ``[pipeline, connector, pipeline, ...]``, or []."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> list[str]:
        state[name] = 1
        signal = name.partition("/")[0]
        for xid in resolved_ids(cfg.service.pipelines[name].exporters):
            for nxt in outputs.get((xid, signal), []):
                if state.get(nxt) == 1:
                    return [*path, name, str(xid), nxt]
                if nxt not in state:
                    found = visit(nxt, [*path, name, str(xid)])
                    if found:
                        return found
        state[name] = 2
        return []

    for name in cfg.service.pipelines:
        if name not in state:
            found = visit(name, [])
            if found:
                start = found.index(found[-1])
                return found[start:]
    return []
