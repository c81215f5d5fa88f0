"""Conditions in the OpenTelemetry Transformation Language (OTTL), the part the ``filter`` processor's
conditions use, compiled once into Python functions over OTLP messages.

The grammar is Go's (``pkg/ottl``'s LANGUAGE.md), parsed with Lark: ``or`` / ``and`` / ``not`` (``not``
binds tightest, then ``and``), parentheses, the comparisons ``== != < <= > >=``, literals (strings, ints,
floats, ``true`` / ``false``, ``nil``, enums such as ``SPAN_KIND_SERVER``), paths (``name``,
``attributes["http.route"]``, ``resource.attributes["service.name"]``, ``instrumentation_scope.name``, an
optional context prefix such as ``span.``), and the converters that decide: ``IsMatch``, ``HasPrefix``,
``HasSuffix``, ``Len``, ``IsString`` / ``IsInt`` / ``IsDouble`` / ``IsBool`` / ``IsMap`` / ``IsList``,
``String``, ``Int``, ``Double``, ``ToLowerCase``, ``ToUpperCase``.  Comparisons follow Go's rules: ``nil``
equals only ``nil``; ints and floats compare as numbers; values of other different types are unequal and
not ordered; bools and maps only ``==`` / ``!=``.  What this subset lacks (math, other converters, editor
functions) is a clear error when the config is validated, never a silent false.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, VisitError

__all__ = ["OTTLError", "compile_condition", "CONTEXTS"]

_GRAMMAR = r"""
?start: or_expr
statement: editor ["where" or_expr]
editor: NAME "(" [arg ("," arg)*] ")"
?arg: operand | items
items: "[" [operand ("," operand)*] "]"
?or_expr: and_expr | or_expr "or" and_expr -> or_
?and_expr: not_expr | and_expr "and" not_expr -> and_
?not_expr: "not" not_expr -> not_ | comparison | operand
comparison: operand COMP operand
?operand: literal | path | call | "(" or_expr ")"
path: NAME segment*
?segment: "." NAME -> field | "[" STRING "]" -> key | "[" INT "]" -> index
call: FUNC "(" [operand ("," operand)*] ")"
?literal: STRING -> string | SIGNED_FLOAT -> float | SIGNED_INT -> int | "true" -> true | "false" -> false
        | "nil" -> nil | ENUM -> enum
COMP: "==" | "!=" | "<=" | ">=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/
FUNC.2: /[A-Z][a-z][A-Za-z0-9]*/
ENUM: /[A-Z][A-Z0-9_]+/
STRING: /"(\\.|[^"\\])*"/
SIGNED_FLOAT: /[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?/
SIGNED_INT: /[+-]?\d+/
INT: /\d+/
%ignore /\s+/
"""


class OTTLError(ValueError):
    """A condition this collector cannot compile, with the reason."""


_ENUMS: dict[str, int] = {
    **{
        f"SPAN_KIND_{k}": i
        for i, k in enumerate(("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))
    },
    **{f"STATUS_CODE_{k}": i for i, k in enumerate(("UNSET", "OK", "ERROR"))},
    **{
        f"METRIC_DATA_TYPE_{k}": i
        for i, k in enumerate(("NONE", "GAUGE", "SUM", "HISTOGRAM", "EXPONENTIAL_HISTOGRAM", "SUMMARY"))
    },
    **{f"AGGREGATION_TEMPORALITY_{k}": i for i, k in enumerate(("UNSPECIFIED", "DELTA", "CUMULATIVE"))},
    "SEVERITY_NUMBER_UNSPECIFIED": 0,
    **{
        f"SEVERITY_NUMBER_{level}{n if n > 1 else ''}": base + n - 1
        for level, base in (("TRACE", 1), ("DEBUG", 5), ("INFO", 9), ("WARN", 13), ("ERROR", 17), ("FATAL", 21))
        for n in (1, 2, 3, 4)
    },
}
_METRIC_TYPES = {"gauge": 1, "sum": 2, "histogram": 3, "exponential_histogram": 4, "summary": 5}

#: the contexts a condition can be written for, and the prefixes it may start its paths with
CONTEXTS = {
    "resource": ("resource",),
    "span": ("span",),
    "log": ("log",),
    "metric": ("metric",),
    "datapoint": ("datapoint",),
}


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", start=["start", "statement"])


def compile_condition(text: str, context: str) -> Callable[[dict], bool]:
    """A function of an item (``{"span": ..., "resource": ..., "scope": ...}``, or ``record`` / ``metric`` /
    ``point`` for the other contexts) that says whether ``text`` holds for it; raises OTTLError."""
    try:
        tree = _parser().parse(text, start="start")
    except LarkError as e:
        raise OTTLError(f"cannot parse {text!r}: {_short(e)}") from None
    try:
        fn = _Compiler(context).transform(tree)
    except VisitError as e:
        raise (e.orig_exc if isinstance(e.orig_exc, OTTLError) else OTTLError(str(e.orig_exc))) from None
    if not getattr(fn, "is_boolean", False):
        raise OTTLError(f"{text!r} is not a condition: write a comparison or a converter such as IsMatch")
    return fn


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0]


def _literal(value: Any) -> Callable[[dict], Any]:
    def constant(item: dict) -> Any:
        return value

    constant.literal = value  # type: ignore[attr-defined]
    return constant


def _boolean(fn: Callable[[dict], Any]) -> Callable[[dict], Any]:
    fn.is_boolean = True  # type: ignore[attr-defined]
    return fn


def _plain(any_value) -> Any:
    """An OTLP AnyValue as OTTL sees it (None when unset)."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_plain(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


class _Attributes:
    """``attributes`` of an item: indexed by a key, one scan (no mapping built); whole, a dict."""

    __slots__ = ("get_owner", "segments")

    def __init__(self, get_owner: Callable[[dict], Any]):
        self.get_owner = get_owner
        self.segments: list | None = None  # the path, when it is one (for ottl_statements)

    def __call__(self, item: dict) -> Any:
        return {kv.key: _plain(kv.value) for kv in self.get_owner(item).attributes}

    def one(self, key: str) -> Callable[[dict], Any]:
        get_owner = self.get_owner

        def value(item: dict) -> Any:
            for kv in get_owner(item).attributes:
                if kv.key == key:
                    return _plain(kv.value)
            return None

        return value


def _attributes_getter(get_owner: Callable[[dict], Any]) -> _Attributes:
    return _Attributes(get_owner)


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is b) if op == "==" else (a is not b) if op == "!=" else False
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        same = isinstance(a, bool) and isinstance(b, bool)
        return (same and a == b) if op == "==" else (not same or a != b) if op == "!=" else False
    if isinstance(a, numeric) and isinstance(b, numeric):
        pass
    elif type(a) is not type(b):
        return op == "!="
    elif isinstance(a, (dict, list)):
        return (a == b) if op == "==" else (a != b) if op == "!=" else False
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _to_string(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _to_int(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(float(v)) if "." in v else int(v)
        except ValueError:
            return None
    return None


def _to_double(v: Any) -> Any:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _is_match(v: Any, regex: re.Pattern) -> bool:
    """Go's IsMatch: a string, or a bool or number as its text; nil never matches."""
    if v is None or isinstance(v, (dict, list)):
        return False
    return regex.search(_to_string(v)) is not None


_CONVERTERS: dict[str, tuple[int, bool, Callable[..., Any]]] = {  # name -> (arity, returns a bool, fn)
    "IsMatch": (2, True, _is_match),
    "HasPrefix": (2, True, lambda v, p: isinstance(v, str) and v.startswith(p)),
    "HasSuffix": (2, True, lambda v, s: isinstance(v, str) and v.endswith(s)),
    "IsString": (1, True, lambda v: isinstance(v, str)),
    "IsInt": (1, True, lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "IsDouble": (1, True, lambda v: isinstance(v, float)),
    "IsBool": (1, True, lambda v: isinstance(v, bool)),
    "IsMap": (1, True, lambda v: isinstance(v, dict)),
    "IsList": (1, True, lambda v: isinstance(v, list)),
    "Len": (1, False, lambda v: len(v) if isinstance(v, (str, list, dict, bytes)) else None),
    "String": (1, False, _to_string),
    "Int": (1, False, _to_int),
    "Double": (1, False, _to_double),
    "ToLowerCase": (1, False, lambda v: v.lower() if isinstance(v, str) else None),
    "ToUpperCase": (1, False, lambda v: v.upper() if isinstance(v, str) else None),
}


def _hex_id(attr: str) -> Callable[[Any], str]:
    return lambda owner: getattr(owner, attr).hex()


# per context: the item's fields a path may name (first segment), each a function of the item
def _scope_and_resource(first: str, rest: list, context: str):
    if first == "resource":
        if rest and rest[0] == ("field", "attributes"):
            return _attributes_getter(lambda item: item["resource"]), rest[1:]
        if rest and rest[0] == ("field", "dropped_attributes_count"):
            return (lambda item: item["resource"].dropped_attributes_count), rest[1:]
    if first == "instrumentation_scope" and rest and rest[0][0] == "field":
        name = rest[0][1]
        if name == "attributes":
            return _attributes_getter(lambda item: item["scope"]), rest[1:]
        if name in ("name", "version"):
            return (lambda item, n=name: getattr(item["scope"], n)), rest[1:]
    return None


_SPAN_FIELDS = {
    "name": lambda s: s.name,
    "kind": lambda s: s.kind,
    "trace_state": lambda s: s.trace_state,
    "start_time_unix_nano": lambda s: s.start_time_unix_nano,
    "end_time_unix_nano": lambda s: s.end_time_unix_nano,
    "dropped_attributes_count": lambda s: s.dropped_attributes_count,
    "dropped_events_count": lambda s: s.dropped_events_count,
    "dropped_links_count": lambda s: s.dropped_links_count,
    "flags": lambda s: s.flags,
    "trace_id": lambda s: s.trace_id,
    "span_id": lambda s: s.span_id,
    "parent_span_id": lambda s: s.parent_span_id,
}
_LOG_FIELDS = {
    "body": lambda r: _plain(r.body),
    "severity_number": lambda r: r.severity_number,
    "severity_text": lambda r: r.severity_text,
    "time_unix_nano": lambda r: r.time_unix_nano,
    "observed_time_unix_nano": lambda r: r.observed_time_unix_nano,
    "flags": lambda r: r.flags,
    "event_name": lambda r: r.event_name,
    "dropped_attributes_count": lambda r: r.dropped_attributes_count,
    "trace_id": lambda r: r.trace_id,
    "span_id": lambda r: r.span_id,
}


def _metric_type(m) -> int:
    return _METRIC_TYPES.get(m.WhichOneof("data") or "", 0)


def _temporality(m) -> int:
    kind = m.WhichOneof("data")
    return getattr(m, kind).aggregation_temporality if kind in ("sum", "histogram", "exponential_histogram") else 0


_METRIC_FIELDS = {
    "name": lambda m: m.name,
    "description": lambda m: m.description,
    "unit": lambda m: m.unit,
    "type": _metric_type,
    "aggregation_temporality": _temporality,
    "is_monotonic": lambda m: m.sum.is_monotonic if m.WhichOneof("data") == "sum" else False,
}


def _point_value(p: Any, field: str) -> Any:
    if field in ("value_int", "value_double"):
        kind = p.WhichOneof("value") if "value" in [f.name for f in p.DESCRIPTOR.oneofs] else None
        want = "as_int" if field == "value_int" else "as_double"
        return getattr(p, want) if kind == want else (0 if field == "value_int" else 0.0)
    return getattr(p, field) if field in p.DESCRIPTOR.fields_by_name else None


_POINT_FIELDS = ("value_int", "value_double", "count", "sum", "start_time_unix_nano", "time_unix_nano", "flags")


#: the item key each context's paths are read from
OWNER_KEYS = {"resource": "resource", "span": "span", "log": "record", "metric": "metric", "datapoint": "point"}

_FIELDS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "resource": {"dropped_attributes_count": lambda r: r.dropped_attributes_count},
    "span": _SPAN_FIELDS,
    "log": _LOG_FIELDS,
    "metric": _METRIC_FIELDS,
    "datapoint": {f: functools.partial(_point_value, field=f) for f in _POINT_FIELDS},
}


def _request_getter(segments: list) -> Callable[[dict], Any]:
    """``request["x-tenant"]``: a header of the request (its client metadata, with the receiver's
    ``include_metadata``); several values are joined with commas; absent, nil."""
    if len(segments) != 2 or segments[0] != ("field", "request") or not isinstance(segments[1][1], str):
        raise OTTLError('the request context has request["<header>"] only')
    header = segments[1][1].lower()

    def value(item: dict) -> Any:
        metadata = item.get("request") or {}
        found = metadata.get(header)
        if found is None:
            found = next((v for k, v in metadata.items() if k.lower() == header), None)
        if found is None or isinstance(found, str):
            return found
        return ",".join(map(str, found))

    return value


def _path_getter(context: str, segments: list) -> Callable[[dict], Any]:
    if context == "request":
        return _request_getter(segments)
    names = list(segments)
    if names and names[0][0] == "field" and names[0][1] in CONTEXTS.get(context, ()):
        names = names[1:]  # span.name, log.body, ...: the context named first
    if not names or names[0][0] != "field":
        raise OTTLError("a path starts with a name (name, attributes, resource, ...)")
    first, rest = names[0][1], names[1:]
    found = _scope_and_resource(first, rest, context)
    if found is not None:
        getter, rest = found
        return _indexed(getter, rest)
    owner_key = OWNER_KEYS[context]
    if first == "attributes" and context != "metric":
        return _indexed(_attributes_getter(lambda item: item[owner_key]), rest)
    if context == "datapoint" and first == "metric":
        if rest and rest[0][0] == "field" and rest[0][1] in _METRIC_FIELDS:
            fn = _METRIC_FIELDS[rest[0][1]]
            return _indexed(lambda item: fn(item["metric"]), rest[1:])
        raise OTTLError(f"metric.{rest[0][1] if rest else ''} is not a metric field (name, type, unit, ...)")
    fields = _FIELDS[context]
    if context == "span" and first == "status":
        if rest and rest[0] in (("field", "code"), ("field", "message")):
            attr = rest[0][1]
            return _indexed(lambda item: getattr(item["span"].status, attr), rest[1:])
        raise OTTLError("status has code and message")
    if first not in fields:
        known = sorted(
            {*fields, "resource", "instrumentation_scope"} | ({"attributes"} if context != "metric" else set())
        )
        raise OTTLError(f"{first!r} is not a path of the {context} context (known: {', '.join(known)})")
    fn = fields[first]
    if first in ("trace_id", "span_id", "parent_span_id") and rest and rest[0] == ("field", "string"):
        return lambda item: fn(item[owner_key]).hex()
    return _indexed(lambda item: fn(item[owner_key]), rest)


def _indexed(getter: Callable[[dict], Any], rest: list) -> Callable[[dict], Any]:
    for kind, key in rest:
        if kind == "field":
            raise OTTLError(f'unexpected .{key} (a value is indexed with ["key"] or [0])')
    keys = [key for _, key in rest]
    if not keys:
        return getter
    if isinstance(getter, _Attributes) and isinstance(keys[0], str):
        getter, keys = getter.one(keys[0]), keys[1:]
        if not keys:
            return getter

    def get(item: dict) -> Any:
        value = getter(item)
        for key in keys:
            if isinstance(key, str) and isinstance(value, dict):
                value = value.get(key)
            elif isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
                value = value[key]
            else:
                return None
        return value

    return get


@v_args(inline=True)
class _Compiler(Transformer):
    """The parse tree → a closure per node; each closure takes the item."""

    def __init__(self, context: str):
        super().__init__()
        self.context = context

    def string(self, token: Token):
        try:
            value = json.loads(str(token))
        except ValueError:
            raise OTTLError(f"bad string literal {token}") from None
        return _literal(value)

    def int(self, token: Token):
        return _literal(int(str(token)))

    def float(self, token: Token):
        return _literal(float(str(token)))

    def true(self):
        return _boolean(_literal(True))

    def false(self):
        return _boolean(_literal(False))

    def nil(self):
        return _literal(None)

    def enum(self, token: Token):
        name = str(token)
        if name not in _ENUMS:
            raise OTTLError(f"unknown enum {name}")
        return _literal(_ENUMS[name])

    def field(self, token: Token):
        return ("field", str(token))

    def key(self, token: Token):
        return ("key", json.loads(str(token)))

    def index(self, token: Token):
        return ("key", int(str(token)))

    def path(self, name: Token, *segments):
        full = [("field", str(name)), *segments]
        getter = _path_getter(self.context, full)
        getter.segments = full  # type: ignore[attr-defined]  # what an editor sets, for ottl_statements
        return getter

    def call(self, name: Token, *args):
        fn_name = str(name)
        if fn_name not in _CONVERTERS:
            raise OTTLError(f"converter {fn_name} is not available here (available: {', '.join(_CONVERTERS)})")
        arity, returns_bool, fn = _CONVERTERS[fn_name]
        args = tuple(a for a in args if a is not None)
        if len(args) != arity:
            raise OTTLError(f"{fn_name} takes {arity} argument{'s' if arity > 1 else ''}")
        if fn_name == "IsMatch":
            pattern = getattr(args[1], "literal", None)
            if not isinstance(pattern, str):
                raise OTTLError("IsMatch's pattern must be a string literal")
            try:
                regex = re.compile(pattern)
            except re.error as e:
                raise OTTLError(f"IsMatch: invalid regular expression {pattern!r}: {e}") from None
            target = args[0]
            return _boolean(lambda item: _is_match(target(item), regex))
        if returns_bool:
            return _boolean(lambda item: bool(fn(*(a(item) for a in args))))
        return lambda item: fn(*(a(item) for a in args))

    def comparison(self, left, op: Token, right):
        operator = str(op)
        return _boolean(lambda item: _compare(operator, left(item), right(item)))

    def not_(self, operand):
        _require_boolean(operand)
        return _boolean(lambda item: not operand(item))

    def and_(self, left, right):
        _require_boolean(left, right)
        return _boolean(lambda item: left(item) and right(item))

    def or_(self, left, right):
        _require_boolean(left, right)
        return _boolean(lambda item: left(item) or right(item))


def _require_boolean(*fns) -> None:
    for fn in fns:
        if not getattr(fn, "is_boolean", False):
            raise OTTLError("and / or / not join conditions (comparisons or converters such as IsMatch)")
