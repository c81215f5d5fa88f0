"""Tail sampling: every policy type, and/drop/composite, decision rule, late spans through the
decision caches, the num_traces bound, the background decision tick and shutdown flushing."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector import sampling
from otel_lite.collector.component import ComponentID, ConfigError, CreateSettings
from otel_lite.collector.consumer import RetryableError, Traces
from otel_lite.collector.processors import tail_sampling as ts_mod
from otel_lite.collector.processors.tail_sampling import TailSamplingConfig
from otel_lite.collector.telemetry import Telemetry

MS = 1_000_000
T0 = 1_700_000_000_000_000_000


class Capture:
    def __init__(self):
        self.received: list[Traces] = []
        self.error: Exception | None = None

    async def consume(self, traces: Traces) -> None:
        if self.error is not None:
            raise self.error
        self.received.append(traces)

    def spans(self):
        """(trace id byte, span name, service) of every received span."""
        out = []
        for t in self.received:
            msg = ExportTraceServiceRequest.FromString(t.to_bytes())
            for rs in msg.resource_spans:
                svc = next((kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"), "")
                for ss in rs.scope_spans:
                    out.extend((s.trace_id[-1], s.name, svc) for s in ss.spans)
        return out

    def trace_ids(self) -> set[int]:
        return {tid for tid, _, _ in self.spans()}


def trace_id(tid: int) -> bytes:
    """A random-looking trace id whose last byte is ``tid`` (used to identify it in asserts)."""
    return hashlib.sha256(bytes([tid])).digest()[:15] + bytes([tid])


def span(
    tid: int, name: str = "s", attrs=None, status: int = 0, start_ms: int = 0, end_ms: int = 1, tracestate: str = ""
):
    return dict(tid=tid, name=name, attrs=attrs or {}, status=status, start=start_ms, end=end_ms, ts=tracestate)


def _set_value(v, value):
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    else:
        v.string_value = value


def request(*spans, service: str = "svc", resource_attrs=None) -> Traces:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in {"service.name": service, **(resource_attrs or {})}.items():
        kv = rs.resource.attributes.add()
        kv.key = k
        _set_value(kv.value, v)
    ss = rs.scope_spans.add()
    ss.scope.name = "lib"
    for sp in spans:
        s = ss.spans.add()
        s.trace_id = trace_id(sp["tid"])
        s.span_id = (len(ss.spans)).to_bytes(8, "big")
        s.name = sp["name"]
        s.start_time_unix_nano = T0 + sp["start"] * MS
        s.end_time_unix_nano = T0 + sp["end"] * MS
        s.status.code = sp["status"]
        s.trace_state = sp["ts"]
        for k, v in sp["attrs"].items():
            kv = s.attributes.add()
            kv.key = k
            _set_value(kv.value, v)
    # bytes only, so the policies read spans through the partial view their fields declare
    return Traces(None, req.SerializeToString(), len(spans))


def make(policies, **cfg):
    sink = Capture()
    tel = Telemetry()
    config = TailSamplingConfig.from_mapping({"decision_wait": "1h", **cfg, "policies": policies})
    settings = CreateSettings(ComponentID("tail_sampling"), "processor", tel)
    return ts_mod.FACTORY.create(settings, config, sink), sink, tel


def sampled_ids(policies, *requests, **cfg) -> set[int]:
    """Buffer ``requests``, decide at shutdown, return the sampled trace id bytes."""

    async def main():
        proc, sink, _ = make(policies, **cfg)
        for r in requests:
            await proc.consume(r)
        await proc.shutdown()
        return sink.trace_ids()

    return asyncio.run(main())


def metric(tel, name, **labels):
    return tel.registry.get_sample_value(name, {"processor": "tail_sampling", **labels}) or 0.0


async def wait_for(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def test_background_tick_decides_after_decision_wait_and_keeps_grouping():
    async def main():
        proc, sink, tel = make([{"name": "all", "type": "always_sample"}], decision_wait="30ms")
        await proc.start(None)
        try:
            await proc.consume(request(span(1, "a"), span(2, "b"), service="front"))
            await proc.consume(request(span(1, "c"), service="back"))
            assert sink.received == []  # nothing before decision_wait
            await wait_for(lambda: len(sink.spans()) == 3)
            assert sorted(sink.spans()) == [(1, "a", "front"), (1, "c", "back"), (2, "b", "front")]
            assert proc.pending_traces == 0
            assert metric(tel, "otelcol_processor_tail_sampling_new_trace_id_received_total") == 2
            assert (
                metric(
                    tel,
                    "otelcol_processor_tail_sampling_count_traces_sampled_total",
                    policy="all",
                    sampled="true",
                    decision="sampled",
                )
                == 2
            )
            assert (
                metric(
                    tel,
                    "otelcol_processor_tail_sampling_global_count_traces_sampled_total",
                    sampled="true",
                    decision="sampled",
                )
                == 2
            )
        finally:
            await proc.shutdown()

    asyncio.run(main())


def test_latency():
    reqs = [
        request(span(1, start_ms=0, end_ms=50)),
        request(span(2, start_ms=0, end_ms=40), span(2, start_ms=60, end_ms=200)),
        request(span(3, start_ms=0, end_ms=120)),
    ]
    assert sampled_ids([{"name": "l", "type": "latency", "latency": {"threshold_ms": 100}}], *reqs) == {2, 3}
    assert sampled_ids(
        [{"name": "l", "type": "latency", "latency": {"threshold_ms": 100, "upper_threshold_ms": 150}}], *reqs
    ) == {3}


def test_status_code():
    reqs = [request(span(1, status=0), span(1, status=2)), request(span(2, status=1)), request(span(3))]
    assert sampled_ids([{"name": "e", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}], *reqs) == {1}
    assert sampled_ids(
        [{"name": "e", "type": "status_code", "status_code": {"status_codes": ["OK", "UNSET"]}}], *reqs
    ) == {1, 2, 3}


def test_string_attribute_exact_regex_resource_and_invert():
    reqs = [
        request(span(1, attrs={"http.route": "/api/users"})),
        request(span(2, attrs={"http.route": "/health"})),
        request(span(3)),
        request(span(4), resource_attrs={"http.route": "/api/orders"}),
    ]
    exact = {
        "name": "s",
        "type": "string_attribute",
        "string_attribute": {"key": "http.route", "values": ["/api/users", "/api/orders"]},
    }
    assert sampled_ids([exact], *reqs) == {1, 4}
    regex = {
        "name": "s",
        "type": "string_attribute",
        "string_attribute": {"key": "http.route", "values": ["^/api/"], "enabled_regex_matching": True},
    }
    assert sampled_ids([regex], *reqs) == {1, 4}
    invert = {
        "name": "s",
        "type": "string_attribute",
        "string_attribute": {"key": "http.route", "values": ["/health"], "invert_match": True},
    }
    assert sampled_ids([invert], *reqs) == {1, 3, 4}


def test_numeric_attribute():
    reqs = [
        request(span(1, attrs={"http.status_code": 500})),
        request(span(2, attrs={"http.status_code": 200})),
        request(span(3, attrs={"http.status_code": "500"})),
        request(span(4)),
    ]
    pol = {
        "name": "n",
        "type": "numeric_attribute",
        "numeric_attribute": {"key": "http.status_code", "min_value": 400, "max_value": 599},
    }
    assert sampled_ids([pol], *reqs) == {1}
    pol["numeric_attribute"]["invert_match"] = True
    assert sampled_ids([pol], *reqs) == {2, 3, 4}
    only_min = {
        "name": "n",
        "type": "numeric_attribute",
        "numeric_attribute": {"key": "http.status_code", "min_value": 300},
    }
    assert sampled_ids([only_min], *reqs) == {1}


def test_boolean_attribute():
    reqs = [request(span(1, attrs={"debug": True})), request(span(2, attrs={"debug": False})), request(span(3))]
    pol = {"name": "b", "type": "boolean_attribute", "boolean_attribute": {"key": "debug", "value": True}}
    assert sampled_ids([pol], *reqs) == {1}
    pol["boolean_attribute"]["invert_match"] = True
    assert sampled_ids([pol], *reqs) == {2, 3}


def test_probabilistic_hash_is_fnv1a64_and_deterministic():
    assert sampling.fnv1a64(b"") == 0xCBF29CE484222325
    assert sampling.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert sampling.fnv1a64(b"foobar") == 0x85944171F73967E8
    assert sampling.ratio_threshold_u64(1.0) == 2**64 - 1
    assert sampling.ratio_threshold_u64(0.5) == 2**63 - 1
    reqs = [request(span(i)) for i in range(1, 201)]

    def pol(pct, salt=""):
        return [
            {"name": "p", "type": "probabilistic", "probabilistic": {"sampling_percentage": pct, "hash_salt": salt}}
        ]

    assert sampled_ids(pol(100), *reqs) == set(range(1, 201))
    assert sampled_ids(pol(0), *reqs) == set()
    half = sampled_ids(pol(50), *reqs)
    assert 60 < len(half) < 140
    assert sampled_ids(pol(50), *reqs) == half  # same salt, same decisions (consistent across replicas)
    # the decision is exactly the documented one: FNV-1a 64 over salt + trace id <= MaxUint64 * ratio
    threshold = sampling.ratio_threshold_u64(0.5)
    salt = sampling.fnv1a64(b"default-hash-seed")
    assert sampling.salt_hash("") == salt
    assert half == {i for i in range(1, 201) if sampling.fnv1a64(trace_id(i), salt) <= threshold}
    assert sampled_ids(pol(50, "other-salt"), *reqs) != half


def test_rate_limiting():
    async def main():
        proc, sink, _ = make([{"name": "r", "type": "rate_limiting", "rate_limiting": {"spans_per_second": 5}}])
        proc._policies[0][1].clock = lambda: 1000.0  # one fixed second
        for i in range(1, 5):
            await proc.consume(request(span(i), span(i)))
        await proc.shutdown()
        return sink.trace_ids()

    # 2 + 2 spans fit under 5; the third trace would make 6
    assert asyncio.run(main()) == {1, 2}


def test_span_count():
    reqs = [request(span(1)), request(span(2), span(2)), request(span(3), span(3), span(3), span(3))]
    pol = {"name": "c", "type": "span_count", "span_count": {"min_spans": 2, "max_spans": 3}}
    assert sampled_ids([pol], *reqs) == {2}
    pol = {"name": "c", "type": "span_count", "span_count": {"min_spans": 2}}
    assert sampled_ids([pol], *reqs) == {2, 3}


def test_trace_state():
    reqs = [
        request(span(1, tracestate="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")),
        request(span(2, tracestate="rojo=other")),
        request(span(3)),
    ]
    pol = {"name": "t", "type": "trace_state", "trace_state": {"key": "rojo", "values": ["00f067aa0ba902b7"]}}
    assert sampled_ids([pol], *reqs) == {1}
    # parsed by the samplers' one W3C tracestate parser: an invalid tracestate matches nothing (as Go)
    reqs = [
        request(span(4, tracestate=" congo=t61rcWkgMzE ,, rojo=00f067aa0ba902b7")),
        request(span(5, tracestate="rojo=00f067aa0ba902b7,Bad Key=1")),
    ]
    assert sampled_ids([pol], *reqs) == {4}


def test_and_policy():
    reqs = [
        request(span(1, attrs={"tier": "gold"}, end_ms=500)),
        request(span(2, attrs={"tier": "gold"})),
        request(span(3, end_ms=500)),
    ]
    pol = {
        "name": "and",
        "type": "and",
        "and": {
            "and_sub_policy": [
                {"name": "slow", "type": "latency", "latency": {"threshold_ms": 100}},
                {"name": "gold", "type": "string_attribute", "string_attribute": {"key": "tier", "values": ["gold"]}},
            ]
        },
    }
    assert sampled_ids([pol], *reqs) == {1}


def test_drop_wins_over_sample():
    reqs = [request(span(1, attrs={"http.route": "/health"})), request(span(2, attrs={"http.route": "/api"}))]
    policies = [
        {"name": "all", "type": "always_sample"},
        {
            "name": "no-health",
            "type": "drop",
            "drop": {
                "drop_sub_policy": [
                    {
                        "name": "health",
                        "type": "string_attribute",
                        "string_attribute": {"key": "http.route", "values": ["/health"]},
                    }
                ]
            },
        },
    ]
    assert sampled_ids(policies, *reqs) == {2}


def test_inverted_not_sampled_beats_sampled():
    reqs = [request(span(1, attrs={"env": "test"})), request(span(2, attrs={"env": "prod"}))]
    policies = [
        {"name": "all", "type": "always_sample"},
        {
            "name": "not-test",
            "type": "string_attribute",
            "string_attribute": {"key": "env", "values": ["test"], "invert_match": True},
        },
    ]
    assert sampled_ids(policies, *reqs) == {2}
    # an inverted sample does not override a plain "not sampled" from another policy
    policies = [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {
            "name": "not-test",
            "type": "string_attribute",
            "string_attribute": {"key": "env", "values": ["test"], "invert_match": True},
        },
    ]
    assert sampled_ids(policies, *reqs) == set()
    assert sampled_ids(policies[1:], *reqs) == {2}


def test_composite_rate_allocation():
    async def main():
        pol = {
            "name": "comp",
            "type": "composite",
            "composite": {
                "max_total_spans_per_second": 4,
                "policy_order": ["vip", "rest"],
                "composite_sub_policy": [
                    {
                        "name": "vip",
                        "type": "string_attribute",
                        "string_attribute": {"key": "customer", "values": ["vip"]},
                    },
                    {"name": "rest", "type": "always_sample"},
                ],
                "rate_allocation": [{"policy": "vip", "percent": 50}, {"policy": "rest", "percent": 50}],
            },
        }
        proc, sink, _ = make([pol])
        proc._policies[0][1].clock = lambda: 1000.0
        for i in range(1, 4):
            await proc.consume(request(span(i, attrs={"customer": "vip"})))
        for i in range(4, 7):
            await proc.consume(request(span(i)))
        await proc.shutdown()
        return sink.trace_ids()

    # 2 spans/s for each sub-policy: the first two vip traces and the first two others
    assert asyncio.run(main()) == {1, 2, 4, 5}


def test_composite_with_and_sub_policy_config_loads():
    cfg = TailSamplingConfig.from_mapping(
        {
            "policies": [
                {
                    "name": "c",
                    "type": "composite",
                    "composite": {
                        "max_total_spans_per_second": 10,
                        "policy_order": ["a"],
                        "composite_sub_policy": [
                            {
                                "name": "a",
                                "type": "and",
                                "and": {"and_sub_policy": [{"name": "x", "type": "always_sample"}]},
                            }
                        ],
                    },
                }
            ]
        }
    )
    assert isinstance(ts_mod.build_policy(cfg.policies[0]), ts_mod.Composite)


def test_sample_on_first_match_stops_evaluating():
    async def main():
        policies = [
            {"name": "all", "type": "always_sample"},
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        ]
        proc, sink, tel = make(policies, sample_on_first_match=True)
        await proc.consume(request(span(1)))
        await proc.shutdown()
        assert sink.trace_ids() == {1}
        assert (
            metric(
                tel,
                "otelcol_processor_tail_sampling_count_traces_sampled_total",
                policy="errors",
                sampled="false",
                decision="not_sampled",
            )
            == 0
        )

    asyncio.run(main())


def test_late_spans_follow_the_decision_cache():
    async def main():
        policies = [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]
        proc, sink, tel = make(policies, decision_cache={"sampled_cache_size": 10, "non_sampled_cache_size": 10})
        await proc.consume(request(span(1, "first", status=2), span(2, "other")))
        await proc.decide_due(everything=True)
        assert sink.spans() == [(1, "first", "svc")]
        # late spans: trace 1 was sampled -> forwarded at once; trace 2 was not -> dropped
        await proc.consume(request(span(1, "late"), span(2, "late2")))
        assert sink.spans() == [(1, "first", "svc"), (1, "late", "svc")]
        assert proc.pending_traces == 0
        assert (
            metric(tel, "otelcol_processor_tail_sampling_early_releases_from_cache_decision_total", sampled="true") == 1
        )
        assert (
            metric(tel, "otelcol_processor_tail_sampling_early_releases_from_cache_decision_total", sampled="false")
            == 1
        )
        await proc.shutdown()

    asyncio.run(main())


def test_late_spans_without_cache_start_a_new_trace():
    async def main():
        proc, sink, _ = make([{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}])
        await proc.consume(request(span(1, "first", status=2)))
        await proc.decide_due(everything=True)
        await proc.consume(request(span(1, "late")))
        assert proc.pending_traces == 1
        await proc.shutdown()
        # the late span alone has no error: decided again, not sampled
        assert sink.spans() == [(1, "first", "svc")]

    asyncio.run(main())


def test_late_span_forward_error_reaches_the_sender():
    async def main():
        proc, sink, _ = make([{"name": "all", "type": "always_sample"}], decision_cache={"sampled_cache_size": 10})
        await proc.consume(request(span(1)))
        await proc.decide_due(everything=True)
        sink.error = RetryableError("backend down")
        with pytest.raises(RetryableError):
            await proc.consume(request(span(1, "late")))
        await proc.shutdown()

    asyncio.run(main())


def test_num_traces_bound_evicts_oldest():
    async def main():
        proc, sink, tel = make([{"name": "all", "type": "always_sample"}], num_traces=3)
        for i in range(1, 6):
            await proc.consume(request(span(i)))
        assert proc.pending_traces == 3
        assert metric(tel, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total") == 2
        assert metric(tel, "otelcol_processor_tail_sampling_sampling_traces_on_memory") == 3
        await proc.shutdown()
        assert sink.trace_ids() == {3, 4, 5}

    asyncio.run(main())


def test_shutdown_drop_pending_option():
    async def main():
        proc, sink, _ = make([{"name": "all", "type": "always_sample"}], drop_pending_traces_on_shutdown=True)
        await proc.start(None)
        await proc.consume(request(span(1)))
        await proc.shutdown()
        await proc.shutdown()
        assert sink.received == []

    asyncio.run(main())


def test_forward_failure_at_decision_is_counted_not_raised():
    async def main():
        proc, sink, tel = make([{"name": "all", "type": "always_sample"}])
        sink.error = RetryableError("backend down")
        await proc.consume(request(span(1), span(1)))
        await proc.shutdown()
        assert metric(tel, "otelcol_processor_tail_sampling_forward_errors_total") == 2

    asyncio.run(main())


@pytest.mark.parametrize(
    "cfg,path",
    [
        ({"policies": []}, "policies"),
        ({"policies": [{"name": "a", "type": "bogus"}]}, "policies[0].type"),
        ({"policies": [{"name": "a", "type": "status_code"}]}, "policies[0].status_code.status_codes"),
        (
            {"policies": [{"name": "a", "type": "status_code", "status_code": {"status_codes": ["BAD"]}}]},
            "policies[0].status_code.status_codes[0]",
        ),
        ({"policies": [{"name": "a", "type": "and"}]}, "policies[0].and.and_sub_policy"),
        (
            {"policies": [{"name": "a", "type": "and", "and": {"and_sub_policy": [{"name": "b", "type": "drop"}]}}]},
            "policies[0].and.and_sub_policy[0].type",
        ),
        (
            {"policies": [{"name": "a", "type": "always_sample"}, {"name": "a", "type": "always_sample"}]},
            "policies[1].name",
        ),
        ({"decision_wait": "0s", "policies": [{"name": "a", "type": "always_sample"}]}, "decision_wait"),
        ({"num_traces": 0, "policies": [{"name": "a", "type": "always_sample"}]}, "num_traces"),
        (
            {
                "policies": [
                    {
                        "name": "c",
                        "type": "composite",
                        "composite": {
                            "max_total_spans_per_second": 5,
                            "policy_order": ["zz"],
                            "composite_sub_policy": [{"name": "a", "type": "always_sample"}],
                        },
                    }
                ]
            },
            "policies[0].composite.policy_order[0]",
        ),
        ({"policies": [{"name": "r", "type": "rate_limiting"}]}, "policies[0].rate_limiting.spans_per_second"),
        (
            {"policies": [{"name": "l", "type": "latency", "latency": {"threshold_ms": 10, "upper_threshold_ms": 5}}]},
            "policies[0].latency.upper_threshold_ms",
        ),
        (
            {"policies": [{"name": "n", "type": "numeric_attribute", "numeric_attribute": {"min_value": 1}}]},
            "policies[0].numeric_attribute.key",
        ),
        (
            {
                "policies": [
                    {
                        "name": "n",
                        "type": "numeric_attribute",
                        "numeric_attribute": {"key": "k", "min_value": 5, "max_value": 1},
                    }
                ]
            },
            "policies[0].numeric_attribute.max_value",
        ),
        (
            {"policies": [{"name": "c", "type": "span_count", "span_count": {"min_spans": 5, "max_spans": 1}}]},
            "policies[0].span_count.max_spans",
        ),
        (
            {"policies": [{"name": "t", "type": "trace_state", "trace_state": {"key": "k"}}]},
            "policies[0].trace_state.values",
        ),
        ({"policies": [{"name": "b", "type": "boolean_attribute"}]}, "policies[0].boolean_attribute.key"),
        ({"policies": [{"name": "a", "type": "always_sample"}], "typo": 1}, "typo"),
    ],
)
def test_invalid_config_names_the_key(cfg, path):
    with pytest.raises(ConfigError) as e:
        TailSamplingConfig.from_mapping(cfg, "processors.tail_sampling")
    assert e.value.path == f"processors.tail_sampling.{path}"


def test_policies_are_validated_once_however_deeply_nested(monkeypatch):
    calls = []
    original = ts_mod.LatencyConfig.validate
    monkeypatch.setattr(ts_mod.LatencyConfig, "validate", lambda self: calls.append(self) or original(self))
    latency = {"name": "l", "type": "latency", "latency": {"threshold_ms": 5}}
    in_and = {"name": "a", "type": "and", "and": {"and_sub_policy": [latency]}}
    in_composite = {
        "name": "c",
        "type": "composite",
        "composite": {"max_total_spans_per_second": 10, "composite_sub_policy": [in_and]},
    }
    for policy in (latency, in_and, in_composite):
        calls.clear()
        TailSamplingConfig.from_mapping({"policies": [policy]})
        assert len(calls) == 1, policy["type"]
    # an absent options block gets its defaults, validated once too
    calls.clear()
    TailSamplingConfig.from_mapping({"policies": [{"name": "l", "type": "latency"}]})
    assert len(calls) == 1


def test_final_decision_rule():
    D = ts_mod.Decision
    assert ts_mod.final_decision({D.SAMPLED, D.DROPPED}) is D.DROPPED
    assert ts_mod.final_decision({D.SAMPLED, D.INVERT_NOT_SAMPLED}) is D.NOT_SAMPLED
    assert ts_mod.final_decision({D.SAMPLED, D.NOT_SAMPLED}) is D.SAMPLED
    assert ts_mod.final_decision({D.INVERT_SAMPLED}) is D.SAMPLED
    assert ts_mod.final_decision({D.INVERT_SAMPLED, D.NOT_SAMPLED}) is D.NOT_SAMPLED
    assert ts_mod.final_decision(set()) is D.NOT_SAMPLED
    assert [(d.sampled, d.label) for d in D] == [
        (True, "sampled"),
        (False, "not_sampled"),
        (False, "dropped"),
        (True, "sampled"),
        (False, "not_sampled"),
    ]


def test_defaults_match_go():
    cfg = TailSamplingConfig.from_mapping({"policies": [{"name": "a", "type": "always_sample"}]})
    assert (
        cfg.decision_wait,
        cfg.num_traces,
        cfg.decision_cache.sampled_cache_size,
        cfg.decision_cache.non_sampled_cache_size,
    ) == (30.0, 50000, 0, 0)


def test_data_after_shutdown_is_decided_at_once():
    async def main():
        proc, sink, _ = make([{"name": "all", "type": "always_sample"}], decision_wait="20ms")
        await proc.start(None)
        await proc.shutdown()
        await proc.consume(request(span(7, "straggler")))
        assert sink.spans() == [(7, "straggler", "svc")]
        assert proc.pending_traces == 0

    asyncio.run(main())


@pytest.mark.parametrize("received_as", ["message", "bytes only"])  # bytes only: parsed as a partial view
def test_sampled_traces_are_forwarded_intact_with_resource_scope_and_schema_urls(received_as):
    """Buffered spans are references into the received requests; what is forwarded must
    equal what arrived (every field), also after the request objects go out of scope."""
    req = ExportTraceServiceRequest()
    for service in ("front", "back"):
        rs = req.resource_spans.add(schema_url=f"https://schema/{service}")
        rs.resource.attributes.add(key="service.name").value.string_value = service
        rs.resource.dropped_attributes_count = 3
        ss = rs.scope_spans.add(schema_url="https://scope-schema")
        ss.scope.name, ss.scope.version = "lib", "1.2"
        for i in range(3):
            s = ss.spans.add(
                trace_id=trace_id(7),
                span_id=bytes([1, i, len(service)] + [0] * 5),
                name=f"{service}{i}",
                kind=2,
                start_time_unix_nano=T0,
                end_time_unix_nano=T0 + i,
                trace_state="a=b",
            )
            s.attributes.add(key="k").value.int_value = i
            s.events.add(name="e", time_unix_nano=T0)
            s.status.code, s.status.message = 2, "boom"
    sent = req.SerializeToString()

    async def main():
        proc, sink, _ = make([{"name": "all", "type": "always_sample"}])
        traces = Traces.from_bytes(sent) if received_as == "message" else Traces(None, sent, 6)
        await proc.consume(traces)
        await proc.shutdown()
        return sink

    sink = asyncio.run(main())
    got = ExportTraceServiceRequest.FromString(b"".join(t.to_bytes() for t in sink.received))
    assert len(got.resource_spans) == 2
    for out_rs, in_rs in zip(
        got.resource_spans, ExportTraceServiceRequest.FromString(sent).resource_spans, strict=True
    ):
        assert out_rs == in_rs
