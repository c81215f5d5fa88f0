"""Go's attribute actions (``attraction``) on real OTLP attributes: each action's rules, the hash's
bytes per type, conversions, extraction, values from another attribute and from client metadata."""

from __future__ import annotations

import hashlib
import struct

import pytest
from opentelemetry.proto.common.v1.common_pb2 import KeyValueList

from otel_lite.collector.attribute_actions import AttributeAction, compile_actions, set_any
from otel_lite.collector.component import ConfigError


def _attributes(**values):
    holder = KeyValueList()
    for key, value in values.items():
        set_any(holder.values.add(key=key).value, value)
    return holder.values


def _plain(attributes) -> dict:
    out = {}
    for kv in attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind not in ("array_value", "kvlist_value") else kind
    return out


def _run(actions: list[dict], metadata=None, **values) -> dict:
    attributes = _attributes(**values)
    compile_actions([AttributeAction.from_mapping(a) for a in actions])(attributes, metadata)
    return _plain(attributes)


def test_insert_update_upsert_follow_whether_the_key_exists():
    start = {"env": "prod"}
    assert _run([{"key": "env", "value": "dev", "action": "insert"}], **start) == {"env": "prod"}
    assert _run([{"key": "zone", "value": "a", "action": "insert"}], **start) == {"env": "prod", "zone": "a"}
    assert _run([{"key": "env", "value": "dev", "action": "update"}], **start) == {"env": "dev"}
    assert _run([{"key": "zone", "value": "a", "action": "update"}], **start) == {"env": "prod"}
    assert _run([{"key": "zone", "value": 3, "action": "upsert"}], **start) == {"env": "prod", "zone": 3}
    assert _run([{"key": "env", "value": True, "action": "upsert"}], **start) == {"env": True}


def test_values_from_another_attribute_and_from_client_metadata():
    copied = _run([{"key": "svc", "from_attribute": "service.name", "action": "insert"}], **{"service.name": "api"})
    assert copied == {"service.name": "api", "svc": "api"}
    assert _run([{"key": "svc", "from_attribute": "missing", "action": "upsert"}], x=1) == {"x": 1}
    meta = {"x-tenant": "acme"}
    for source in ("metadata.x-tenant", "X-Tenant"):
        assert _run([{"key": "tenant", "from_context": source, "action": "upsert"}], meta, x=1) == {
            "x": 1,
            "tenant": "acme",
        }
    assert _run([{"key": "tenant", "from_context": "x-tenant", "action": "upsert"}], None, x=1) == {"x": 1}


def test_delete_by_key_and_by_pattern():
    start = {"http.url": "u", "http.method": "GET", "db.statement": "s"}
    assert _run([{"key": "db.statement", "action": "delete"}], **start) == {"http.url": "u", "http.method": "GET"}
    assert _run([{"pattern": "^http\\.", "action": "delete"}], **start) == {"db.statement": "s"}


def test_hash_is_sha256_over_gos_bytes():
    out = _run([{"pattern": ".*", "action": "hash"}], s="abc", b=True, i=-2, d=1.5, l=["x"])
    assert out["s"] == hashlib.sha256(b"abc").hexdigest()
    assert out["b"] == hashlib.sha256(b"\x01").hexdigest()
    assert out["i"] == hashlib.sha256(struct.pack("<q", -2)).hexdigest()
    assert out["d"] == hashlib.sha256(struct.pack("<d", 1.5)).hexdigest()
    assert out["l"] == ""  # lists, maps and bytes hash to "" as in Go


def test_extract_adds_the_named_groups():
    out = _run(
        [{"key": "http.url", "pattern": r"^/api/(?P<version>v\d+)/(?<resource>\w+)", "action": "extract"}],
        **{"http.url": "/api/v2/users?id=1"},
    )
    assert out == {"http.url": "/api/v2/users?id=1", "version": "v2", "resource": "users"}
    assert _run([{"key": "u", "pattern": r"^(?P<x>\d+)$", "action": "extract"}], u="no digits") == {"u": "no digits"}


@pytest.mark.parametrize(
    ("value", "to", "expected"),
    [
        ("42", "int", 42),
        ("4.2", "int", "4.2"),  # not an integer: left alone, as Go
        (4.9, "int", 4),
        (True, "int", 1),
        ("4.5", "double", 4.5),
        (3, "double", 3.0),
        ("x", "double", "x"),
        (12, "string", "12"),
        (1.0, "string", "1"),
        (1e21, "string", "1000000000000000000000"),
        (False, "string", "false"),
    ],
)
def test_convert(value, to, expected):
    out = _run([{"key": "v", "action": "convert", "converted_type": to}], v=value)
    assert out["v"] == expected and type(out["v"]) is type(expected)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"key": "k", "action": "rename"}, "must be one of insert, update, upsert"),
        ({"key": "k", "action": "insert"}, "exactly one of value, from_attribute, from_context"),
        ({"key": "k", "action": "upsert", "value": 1, "from_attribute": "a"}, "exactly one of"),
        ({"action": "delete"}, "needs a key or a pattern"),
        ({"key": "k", "action": "extract", "pattern": "(\\d+)"}, "named groups"),
        ({"key": "k", "action": "extract", "pattern": "(?P<x>"}, "invalid regular expression"),
        ({"key": "k", "action": "convert", "converted_type": "bool"}, "must be one of int, double, string"),
        ({"key": "k", "action": "upsert", "from_context": "auth.subject"}, "only client metadata"),
    ],
)
def test_bad_actions_are_named(action, message):
    with pytest.raises(ConfigError, match=message.replace("(", "\\(")):
        AttributeAction.from_mapping(action)
