"""The configuration reference, generated from the components' config classes.

Each config class is the single place its options and defaults live; this
renders them as Markdown for README.md (``python -m otel_lite.collector.reference``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import typing

from .registry import ALIASES, BUILTIN_MODULES, lookup


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    name = getattr(tp, "__name__", str(tp))
    return {"Duration": "duration", "str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        name, name
    )


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(value):
        return "see below"
    if type(value).__name__ == "Duration":
        seconds = float(value)
        return f"{seconds * 1000:g}ms" if 0 < seconds < 1 else f"{seconds:g}s"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"  # as YAML writes it
    if value in ("", None, [], {}):
        return "—"
    return f"`{value!r}`" if not isinstance(value, str) else f"`{value}`"


_FIELD_COMMENT_RE = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")


@functools.cache
def _field_comments(cls) -> dict[str, str]:
    """A field's description: the comment at the end of its line in the config class's source (where
    its meaning is written once, beside its default)."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(typing.cast(type, klass))
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            m = _FIELD_COMMENT_RE.match(line)
            if m and "type: ignore" not in m.group(2):
                comments[m.group(1)] = m.group(2).replace("|", "\\|")
    return comments


def _classes(cls) -> list[type]:
    """``cls`` and the config classes nested in it."""
    out, hints = [cls], typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        for candidate in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(candidate) and isinstance(candidate, type) and candidate not in out:
                out += _classes(candidate)
    return out


def _rows(cls, prefix: str = "") -> list[str]:
    rows = []
    comments = _field_comments(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f.metadata.get("key", f.name)
        path = f"{prefix}{key}"
        tp = hints[f.name]
        rows.append(f"| `{path}` | {_type_name(tp)} | {_default(f)} | {comments.get(f.name, '')} |")
        nested = (
            tp
            if dataclasses.is_dataclass(tp)
            else next((a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)), None)
        )
        if nested is not None:
            rows.extend(_rows(nested, path + "."))
    return rows


def render_reference() -> str:
    out = []
    for kind, modules in BUILTIN_MODULES.items():
        for type_name in sorted(modules):
            try:
                factory = lookup(kind, type_name)
            except ImportError:
                continue
            if factory is None:
                continue
            aliases = [a for a, t in ALIASES.get(kind, {}).items() if t == type_name]
            title = f"### {kind} `{type_name}`" + (f" (alias `{'`, `'.join(aliases)}`)" if aliases else "")
            rows = _rows(factory.config_class)
            if not any(_field_comments(c) for c in _classes(factory.config_class)):
                rows = [row.rsplit(" | ", 1)[0] + " |" for row in rows]  # no descriptions written yet
                out += [title, "", "| key | type | default |", "|---|---|---|", *rows, ""]
            else:
                out += [title, "", _HEADER, _RULE, *rows, ""]
    out += _service_section()
    out += _unsupported_section()
    return "\n".join(out)


def _unsupported_section() -> list[str]:
    """The Go Collector's components this one lacks, as ``validate`` explains them."""
    from .unsupported_components import UNSUPPORTED

    rows = [
        f"| {kind} | `{type_name}` | {what} | {advice} |"
        for (kind, type_name), (what, advice) in sorted(UNSUPPORTED.items())
    ]
    return [
        "### Go components this collector does not have",
        "",
        "`validate` names each of these with what to do instead (any other unknown type gets the closest name).",
        "",
        "| kind | type | what it is | what to do |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


_HEADER, _RULE = "| key | type | default | description |", "|---|---|---|---|"


def _service_section() -> list[str]:
    from .config_validation import PipelineConfig
    from .telemetry_config import TelemetryConfig

    return [
        "### `service`",
        "",
        _HEADER,
        _RULE,
        "| `extensions` | list of string | — | the extensions to start (each configured under `extensions:`) |",
        "| `pipelines.<signal>[/<name>]` | mapping | required | a pipeline: `traces`, `metrics` or `logs`, "
        "optionally `/name` |",
        *_rows(PipelineConfig, "pipelines.<signal>[/<name>]."),
        *_rows(TelemetryConfig, "telemetry."),
        "",
    ]


if __name__ == "__main__":
    print(render_reference())
