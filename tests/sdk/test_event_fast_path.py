"""add_event's inline common case (a small dict of scalars) and every way out of it keep the rules of
clean_attributes: copied (not aliased), limits applied, bad entries dropped and counted, never raising."""

from __future__ import annotations

import otel_lite


def _span(**limits):
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, span_limits=otel_lite.SpanLimits(**limits))
    return provider.get_tracer("t").start_span("s")


def test_a_small_scalar_dict_is_copied():
    span = _span()
    attributes = {"k": "v", "n": 1, "b": True, "f": 1.5}
    span.add_event("e", attributes, timestamp=123)
    attributes["later"] = "x"
    (event,) = span.events
    assert dict(event.attributes) == {"k": "v", "n": 1, "b": True, "f": 1.5}
    assert event.timestamp == 123 and event.dropped_attributes == 0


def test_leaving_the_fast_path_applies_the_rules():
    span = _span(max_event_attributes=2, max_attribute_length=3)
    span.add_event("long", {"k": "abcdef"})
    span.add_event("many", {"a": 1, "b": 2, "c": 3})
    span.add_event("bad", {"": 1, 2: "x", "ok": [1, 2], "none": None})
    long, many, bad = span.events
    assert dict(long.attributes) == {"k": "abc"}
    assert len(many.attributes) == 2 and many.dropped_attributes == 1
    assert dict(bad.attributes) == {"ok": (1, 2)} and bad.dropped_attributes == 3  # "", 2 and None


def test_non_scalar_values_in_a_small_dict_take_the_slow_path():
    span = _span()
    values = [1, 2]
    span.add_event("e", {"list": values, "key": "v"})
    values.append(3)
    assert dict(span.events[0].attributes) == {"list": (1, 2), "key": "v"}


def test_bad_attributes_never_raise():
    class Exploding:
        def __bool__(self):
            raise RuntimeError("no")

    span = _span()
    span.add_event("a", Exploding())
    span.add_event("b", ["not", "a", "mapping"])
    span.add_event("c", timestamp="soon")
    assert [e.name for e in span.events] == ["a", "b", "c"]
    assert all(not e.attributes for e in span.events)
