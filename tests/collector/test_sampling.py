"""otel_lite.collector.sampling: the arithmetic and tracestate parser both samplers import (their
Go-compatibility tables are in test_probabilistic_sampler.py and test_tail_sampling.py)."""

from __future__ import annotations

import pytest

from otel_lite.collector import sampling
from otel_lite.collector.processors import probabilistic_sampler
from otel_lite.collector.processors.tail_sampling import policies


def test_fnv1a_reference_vectors():
    # the FNV reference values (Go's hash/fnv tests)
    assert sampling.fnv1a32(b"") == 0x811C9DC5
    assert sampling.fnv1a32(b"a") == 0xE40C292C
    assert sampling.fnv1a32(b"foobar") == 0xBF9CF968
    assert sampling.fnv1a64(b"") == 0xCBF29CE484222325
    assert sampling.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    # continuing a state is hashing the concatenation (seed/salt first, then the trace id)
    assert sampling.fnv1a64(b"bar", sampling.fnv1a64(b"foo")) == sampling.fnv1a64(b"foobar")
    assert sampling.fnv1a32(b"bar", sampling.fnv1a32(b"foo")) == sampling.fnv1a32(b"foobar")


def test_both_samplers_use_the_one_module():
    assert probabilistic_sampler.W3CTraceState is sampling.W3CTraceState
    assert probabilistic_sampler.hash_randomness is sampling.hash_randomness
    assert policies.salted_hash_sampled is sampling.salted_hash_sampled
    assert policies.tracestate_members is sampling.tracestate_members


def test_ratio_threshold_u64_rounds_like_go_big_float():
    assert sampling.ratio_threshold_u64(0.0) == 0
    assert sampling.ratio_threshold_u64(1.0) == 2**64 - 1
    assert sampling.ratio_threshold_u64(0.5) == 2**63 - 1
    assert sampling.ratio_threshold_u64(0.25) == 2**62 - 1


def test_hash_seed_threshold_agrees_with_the_legacy_decision():
    seed = 4312
    for pct in (0.5, 10, 33.3, 50, 99.9):
        threshold = sampling.hash_seed_threshold(sampling.hash_scaled_rate(pct))
        for i in range(200):
            tid = i.to_bytes(2, "big") * 8
            assert (sampling.hash_randomness(tid, seed) >= threshold) == sampling.hash_seed_sampled(tid, seed, pct)


def test_threshold_encoding_round_trip():
    for prob, th in ((1.0, "0"), (0.5, "8"), (0.25, "c"), (0.75, "4")):
        t = sampling.probability_to_threshold(prob, 4)
        assert sampling.tvalue(t) == th
        assert sampling.threshold_probability(t) == prob
    with pytest.raises(sampling.ProbabilityRangeError):
        sampling.probability_to_threshold(0.0)


def test_tracestate_members():
    assert sampling.tracestate_members("") == []
    assert sampling.tracestate_members(" a=1 ,,\tb@c=x y ,") == [("a", "1"), ("b@c", "x y")]
    for bad in ("a", "A=1", "a=1,b= ", "a=" + "x" * 257, "x" * 1025, ",".join(f"k{i}=v" for i in range(32))):
        with pytest.raises(sampling.TraceStateError):
            sampling.tracestate_members(bad)
    assert len(sampling.tracestate_members(",".join(f"k{i}=v" for i in range(31)))) == 31


def test_ot_member_errors_keep_the_rest_of_the_state():
    with pytest.raises(sampling.TraceStateError) as e:
        sampling.W3CTraceState.parse("ot=th:zz;rv:0123456789abcd,vendor=v")
    state = e.value.state
    assert (state.tvalue, state.rvalue, state.extra) == ("", "0123456789abcd", [("vendor", "v")])
