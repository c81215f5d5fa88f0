"""Probabilistic sampler: bit-compatibility with the Go processor (its published test
vectors and tables, through collector.sampling), tracestate output, sampling.priority, in-place span removal."""

from __future__ import annotations

import asyncio
import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector import sampling
from otel_lite.collector.component import ComponentID, ConfigError, CreateSettings
from otel_lite.collector.consumer import Traces
from otel_lite.collector.processors import probabilistic_sampler as ps
from otel_lite.collector.processors.probabilistic_sampler import ProbabilisticSamplerConfig
from otel_lite.collector.sampling import W3CTraceState
from otel_lite.collector.telemetry import Telemetry

DEFAULT_SEED = 4312  # the seed the Go tests use
DEFAULT_TID = "fefefefefefefefefe80000000000000"  # samples at 50%, not at 49%


class Capture:
    def __init__(self):
        self.received: list[Traces] = []

    async def consume(self, traces: Traces) -> None:
        self.received.append(traces)

    def spans(self):
        out = []
        for t in self.received:
            msg = ExportTraceServiceRequest.FromString(t.to_bytes())
            for rs in msg.resource_spans:
                for ss in rs.scope_spans:
                    out.extend(ss.spans)
        return out


def make(**cfg):
    sink = Capture()
    tel = Telemetry()
    settings = CreateSettings(ComponentID("probabilistic_sampler"), "processor", tel)
    proc = ps.FACTORY.create(settings, ProbabilisticSamplerConfig.from_mapping(cfg), sink)
    return proc, sink, tel


def single_span(tid_hex: str, tracestate: str = "", attr=None) -> Traces:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(tid_hex)
    span.span_id = (0xFEFEFEFE).to_bytes(8, "big")
    span.trace_state = tracestate
    if attr is not None:
        key, kind, value = attr
        kv = span.attributes.add()
        kv.key = key
        setattr(kv.value, kind, value)
    return Traces(req)


def run(proc, traces):
    asyncio.run(proc.consume(traces))


def test_go_hash_vectors():
    assert sampling.hash_seed_value(b"", 0) & 0x3FFF == 0x3515
    assert sampling.hash_seed_value(bytes(16), 0) & 0x3FFF == 0x2455


# (seed, trace id, sampled at 50%): the table of the Go TestHashingFunction
GO_HASHING_TABLE = [
    (653, "474a03c76d75951a4b4c537ced8f1122", True),
    (563, "53a518291e91307e43cd8467bb06f986", True),
    (142, "a56a02f843b9bc6ee0b13889249e90e6", True),
    (904, "4e40762d3ee97a1c0932e4fa584f89a8", False),
    (445, "5224507db93db513f0ea2a4b4e0578c8", True),
    (38, "0c8717ced36216037af657e9d7f8b35b", True),
    (561, "2a8aa76c18d08e1e8be935541f9318c7", False),
    (757, "9e3d0f9481dc422cb613ea550897ae71", False),
    (22, "66a66c516ac22054673e5da5e6492545", False),
    (172, "84a1ce7bcea3e66194e72b4aa2694e31", True),
    (552, "a811a7def34ca4b98d8e320afd115fad", False),
    (546, "e3a345cc8dbb6f014bfa1edad3981820", True),
    (315, "a71effb50e28d27cbdc9892f3765b8c2", False),
    (510, "55ee665a3fa22f8ea1b744ce15a7339d", False),
    (230, "7a5006be4d0ce7b542d59f83cd6f1c41", False),
    (544, "825b8fb9cfd45867794f4cd8a5a699bd", False),
    (790, "7629ecbea89398bfd9752a2f51c2c137", True),
    (555, "de6cdfb44d69e211f886c57120d7bda0", True),
    (147, "a8a5c3bb9205883fae17ead6675b2450", False),
    (238, "937e6cb3332dbe87062fa3997f48f425", False),
    (122, "5a357e150995e005847816c431ba502d", False),
    (963, "20cb3dcebe2cf8abe6102f4a2e548245", False),
    (141, "1b0afbd09abaaf7996cd26f8f6533795", False),
    (666, "3ee60b013303bcfda06be89071b90bd1", True),
    (305, "c90c7cf3471bbc3a804a8a831633705b", True),
    (270, "18dda74dfca45a7b0261510f385fb4de", True),
    (381, "600cf70c7bb4918e54aefd78c84f3996", True),
    (35, "855f493c5b5b1e2fcbc9993f8061eac8", False),
    (839, "89bc498feb21d969cf0eabf916aa621a", False),
    (561, "0a0af00f63e098a39883705a423b0aa8", True),
    (667, "0c38553d71f54dfc37155c22cc8bf243", False),
    (603, "49493809d1a49ea879e6aba37afde958", True),
    (92, "eb60d98b8f8fe22d8970f44f0e2b6bad", True),
    (70, "19c386ee7a9f2d56ff9ab2e6374540af", False),
    (567, "2a033c15405f1c7a311f653719ed47b7", False),
    (936, "62dda24e4be24f5198e4d8dd4010c811", True),
    (210, "bb134e26ee92e282e29cabdb1d00d333", True),
    (835, "6c77db08bbded7bdd5c99c6e2fea41d2", False),
    (864, "99f6a7e7b50845b4fb64b7c2ee49f53c", True),
    (775, "e908cb91224bee8fd4b5f3632f65717f", True),
    (687, "45a5ace7234d92d9983b4f3858bc0b8e", False),
    (761, "8c8a25d232fd4d3a37a5f70ccb82d752", False),
    (400, "54156d7434a894ef07f2a80dbf0f1138", True),
    (741, "67e3bfb02b0526dbb79420468d7b83dd", False),
    (871, "f6ea221283dcb42f89bfb15fa33398d2", False),
    (244, "b663ca45004decf8123a19fb5d7f7115", True),
    (885, "d0e299d54d6dc6469276fd4e48301d73", True),
    (607, "03240c2748aa67a185909a9345d84aba", False),
    (434, "b00de72ba67e6fe0ed661decac911f7e", True),
    (889, "20fff68a7cc715b30e4e6d69d53e0f60", False),
    (810, "6bf2bb105e594f6220803da5253551af", False),
    (494, "54fbb1d3ebe3883b0a01bbf2c9a2bf3e", True),
    (413, "a8a2ecba129d8537e360cf54de9d7460", False),
    (215, "2df034262b775136f2a313fdcc09738a", True),
    (557, "e3c1b943d9c1199d1108a69aa32a4587", False),
    (662, "1975d5f5640bac1064d53c2c21e02aae", False),
    (482, "6e4f16727dec3c09539b5f50d35d2c13", False),
    (223, "63a088446ef0ed60a9cace4698ede026", False),
    (261, "9b662cd6f67a4e3d1f904b4c5d4275b1", True),
    (112, "a2db788dbadc402b8c466b93b8749a6c", True),
    (6, "d6a68b47c66d1f94eed46b8ddc72faf4", False),
    (575, "e8a83c42f4515568d0942ec4472c9d2c", True),
    (568, "030e14c2954e3f08134b355f33414ba9", False),
    (965, "022315846d42a38322d6fd26250444b3", True),
    (512, "b3ba1ed226288dede87ac1f2ba88de2b", True),
    (108, "c57d0dcf43d5b154ef04c7953c94cd12", True),
    (248, "a835fe521d9cbfcfb724b603f87c7403", False),
    (46, "eda867e6df95e74abefac336c7f4cd1a", False),
    (879, "09e9e67a261ea3e00d817105b57ffd4e", False),
    (853, "6a780cf250cb3d2b699394042e6723a8", False),
    (639, "4c99d7f14c66b3123caf57980f8e2a31", False),
    (111, "79dc8d7a54bc3e8ef513b9cd8d830564", True),
    (135, "9c2e5d9d713e5219b0f9e5b884835e69", False),
    (209, "3ccb300bf7b983229979e0c46db267b0", True),
    (629, "0bb7b9da64da250c3934bb39130dc990", True),
    (910, "b25713ca4cea377871eaa334bc2dd382", True),
    (667, "69afc041003851cec60f41db97e005a9", True),
    (449, "c844b5428abe0cf82eaf02566781870a", True),
    (16, "2533c732bed8c1ba4721c25a1205f06c", False),
    (936, "ecc770b4be885dfc8d6fa135bc2c93bb", True),
    (595, "63b67cbb42de52e9916241ad94fcd5e8", True),
    (83, "fc4998bc53ccd42a5b8e7c86a93d4c88", False),
    (878, "59f0677dffe1a0a8c5895cb263e3a019", False),
    (206, "eb897eff9e7c7363e063b340a0c6b315", True),
    (710, "89e4c7e6af305be6cd139abcae953db5", True),
    (650, "97563d45ee254231e1ace05fb746bcce", False),
    (233, "3f580864f295ff13f179c3c907032ea9", True),
    (836, "e9b78e03706265a6936bff2a41530104", False),
    (568, "c458603ee921fa8711085c15b871b245", False),
    (816, "4bbfffab5b5975c1b007ebc518bf416d", False),
    (397, "61a1a65746287d78a431c6848ed1ffb3", False),
    (847, "53eee02f4672a72e93369b2c2ecf36eb", False),
    (354, "6ea23c3068a2c304488c8e67a072db97", False),
    (961, "eed247645e510ded87bd9afcf1d3e237", False),
    (799, "092af4ff2fdea5bb1c708b2169bdfd95", False),
    (99, "497f02db51c898ac441aae18a8b7ced9", False),
    (773, "988481445600bb91bbe23e3103034bcd", True),
    (928, "f1813835ac0f456721ef3aac39c0269a", True),
    (235, "1999920085682c007eb3a6984d2a7f05", True),
    (460, "60c3b9a2dde734d71ba5cca7eb164bce", True),
]


def test_go_hashing_table_through_the_processor():
    for seed, tid, expected in GO_HASHING_TABLE:
        assert sampling.hash_seed_sampled(bytes.fromhex(tid), seed, 50) is expected, (seed, tid)
        proc, sink, _ = make(sampling_percentage=50, hash_seed=seed)
        run(proc, single_span(tid))
        assert (len(sink.received) == 1) is expected, (seed, tid)


def test_hash_seed_mode_writes_rv_and_th_like_go():
    # Go Test_tracesamplerprocessor_HashSeedTraceState: th per percentage (14-bit rounding)
    rng = random.Random(7)
    for pct, th in [(100, "0"), (75, "4"), (50, "8"), (25, "c"), (10, "e668"), (100 / 3, "aaac")]:
        proc, sink, _ = make(sampling_percentage=pct, mode="hash_seed", hash_seed=DEFAULT_SEED)
        found = 0
        while found < 10:
            sink.received.clear()
            tid = rng.getrandbits(128).to_bytes(16, "big")
            run(proc, single_span(tid.hex()))
            if not sink.received:
                continue
            span = sink.spans()[0]
            ts = W3CTraceState.parse(span.trace_state)
            assert ts.tvalue == th
            assert ts.rvalue and ts.rnd == sampling.hash_randomness(tid, DEFAULT_SEED)
            assert ts.rnd >= ts.threshold
            assert span.trace_state == f"ot=rv:{ts.rvalue};th:{th}"
            found += 1


# (name, trace id, percentage, precision, incoming tracestate, priority attr, expected per mode);
# expected = tracestate when sampled, None when dropped.  From the Go TraceState test table
# (precision 14 where the Go table leaves it 0, i.e. full precision).
IMPROBABLE = "111111111111111111ffffffffffffff"
TRACESTATE_TABLE = [
    ("100 percent", None, 100, 14, "", None, {"equalizing": "ot=th:0", "proportional": "ot=th:0"}),
    ("50 percent sampled", None, 50, 14, "", None, {"equalizing": "ot=th:8", "proportional": "ot=th:8"}),
    (
        "25 percent sampled",
        "ddddddddddddddddddc0000000000000",
        25,
        14,
        "",
        None,
        {"equalizing": "ot=th:c", "proportional": "ot=th:c"},
    ),
    (
        "25 percent unsampled",
        "ddddddddddddddddddb0000000000000",
        25,
        14,
        "",
        None,
        {"equalizing": None, "proportional": None},
    ),
    (
        "1 percent sampled",
        None,
        1,
        14,
        "ot=rv:FD70A3D70A3D71",
        None,
        {
            "equalizing": "ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71",
            "proportional": "ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71",
        },
    ),
    (
        "1 percent precision 4",
        None,
        1,
        4,
        "ot=rv:FD70A3D70A3D71",
        None,
        {"equalizing": "ot=rv:FD70A3D70A3D71;th:fd70a", "proportional": "ot=rv:FD70A3D70A3D71;th:fd70a"},
    ),
    ("1 percent precision 3", None, 1, 3, "ot=rv:FD70A3D70A3D71", None, {"equalizing": None, "proportional": None}),
    (
        "1 percent not sampled with rvalue",
        None,
        1,
        14,
        "ot=rv:FD70A3D70A3D70",
        None,
        {"equalizing": None, "proportional": None},
    ),
    ("49 percent not sampled", None, 49, 14, "", None, {"equalizing": None, "proportional": None}),
    (
        "1 percent sampled with tid",
        "a0a0a0a0a0a0a0a0a0fe000000000000",
        1,
        4,
        "",
        None,
        {"equalizing": "ot=th:fd70a", "proportional": "ot=th:fd70a"},
    ),
    (
        "sampled by priority",
        None,
        1,
        14,
        "",
        ("sampling.priority", "int_value", 2),
        {"equalizing": "ot=th:0", "proportional": "ot=th:0"},
    ),
    (
        "not sampled by priority",
        None,
        99,
        14,
        "",
        ("sampling.priority", "int_value", 0),
        {"equalizing": None, "proportional": None},
    ),
    (
        "incoming 50 percent with rvalue",
        None,
        50,
        14,
        "ot=rv:90000000000000;th:80000000000000",
        None,
        {"equalizing": "ot=rv:90000000000000;th:8", "proportional": None},
    ),
    ("incoming 50 at 25 not sampled", None, 25, 14, "ot=th:8", None, {"equalizing": None, "proportional": None}),
    (
        "incoming 50 at 25 sampled",
        "ffffffffffffffffffffffffffffffff",
        25,
        14,
        "ot=th:8",
        None,
        {"equalizing": "ot=th:c", "proportional": "ot=th:e"},
    ),
    (
        "equalizing vs proportional",
        None,
        50,
        14,
        "ot=rv:c0000000000000;th:8",
        None,
        {"equalizing": "ot=rv:c0000000000000;th:8", "proportional": "ot=rv:c0000000000000;th:c"},
    ),
    (
        "40 percent precision 3 with rvalue",
        None,
        40,
        3,
        "ot=rv:a0000000000000",
        None,
        {"equalizing": "ot=rv:a0000000000000;th:99a", "proportional": "ot=rv:a0000000000000;th:99a"},
    ),
    (
        "arriving 50 sampled at 40 precision 6",
        "a0a0a0a0a0a0a0a0a0d0000000000000",
        40,
        6,
        "ot=th:8",
        None,
        {"equalizing": "ot=th:99999a", "proportional": "ot=th:cccccd"},
    ),
    (
        "arriving 50 at 40 partly sampled",
        "a0a0a0a0a0a0a0a0a0b0000000000000",
        40,
        3,
        "ot=th:8",
        None,
        {"equalizing": "ot=th:99a", "proportional": None},
    ),
    ("200 percent equals 100", None, 200, 14, "", None, {"equalizing": "ot=th:0", "proportional": "ot=th:0"}),
    (
        "tiny probability rounding",
        IMPROBABLE,
        100 * 2**-14,
        14,
        "ot=th:fffc",
        None,
        {"equalizing": "ot=th:fffc", "proportional": "ot=th:fffffff"},
    ),
    (
        "almost 100pct sampling",
        IMPROBABLE,
        (1 - 8e-7) * 100,
        10,
        "",
        None,
        {"equalizing": "ot=th:00000cccccccd", "proportional": "ot=th:00000cccccccd"},
    ),
    (
        "probability underflow",
        IMPROBABLE,
        2**-4,
        14,
        "ot=th:fffffffffffff8",
        None,
        {"equalizing": "ot=th:fffffffffffff8", "proportional": None},
    ),
    (
        "other vendors kept after ot",
        None,
        50,
        14,
        "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7",
        None,
        {
            "equalizing": "ot=th:8,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
            "proportional": "ot=th:8,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        },
    ),
]


@pytest.mark.parametrize("mode", ["equalizing", "proportional"])
@pytest.mark.parametrize("name,tid,pct,prec,ts,attr,expected", TRACESTATE_TABLE, ids=[r[0] for r in TRACESTATE_TABLE])
def test_consistent_modes_tracestate(mode, name, tid, pct, prec, ts, attr, expected):
    proc, sink, _ = make(sampling_percentage=pct, sampling_precision=prec, mode=mode, hash_seed=DEFAULT_SEED)
    run(proc, single_span(tid or DEFAULT_TID, ts, attr))
    want = expected[mode]
    if want is None:
        assert sink.received == []
    else:
        spans = sink.spans()
        assert len(spans) == 1
        assert spans[0].trace_state == want


@pytest.mark.parametrize("mode", ["equalizing", "proportional"])
@pytest.mark.parametrize(
    "tid,ts",
    [
        ("00000000000000000000000000000000", ""),  # missing randomness
        (DEFAULT_TID, "ot=rv:abababababababab"),  # r-value too long
        (DEFAULT_TID, "ot=th:abababababababab"),  # t-value too long
        (DEFAULT_TID, "ot=th:-1"),  # t-value syntax
        ("ffffffffffffffffff70000000000000", "ot=th:8"),  # inconsistent threshold vs trace id
        (DEFAULT_TID, "ot=th:8;rv:70000000000000"),  # inconsistent threshold vs rv
    ],
)
def test_fail_closed_drops_items_without_usable_randomness(mode, tid, ts):
    proc, sink, _ = make(sampling_percentage=100, mode=mode, fail_closed=True)
    run(proc, single_span(tid, ts))
    assert sink.received == []


def test_fail_open_keeps_inconsistent_and_clears_threshold():
    proc, sink, _ = make(sampling_percentage=100, mode="proportional", fail_closed=False)
    run(proc, single_span(DEFAULT_TID, "ot=rv:40000000000000;th:8"))
    assert sink.spans()[0].trace_state == "ot=rv:40000000000000;th:0"


@pytest.mark.parametrize(
    "failclosed,pct,sampled",
    [(True, 62, False), (True, 100, False), (False, 0, False), (False, 62, True), (False, 100, True)],
)
def test_zero_trace_id_in_hash_mode(failclosed, pct, sampled):
    proc, sink, _ = make(sampling_percentage=pct, hash_seed=DEFAULT_SEED, fail_closed=failclosed)
    run(proc, single_span("00" * 16))
    assert (len(sink.received) == 1) is sampled


@pytest.mark.parametrize("mode", ["hash_seed", "equalizing", "proportional"])
@pytest.mark.parametrize(
    "pct,attr,sampled",
    [
        (0, ("sampling.priority", "int_value", 2), True),
        (0, ("sampling.priority", "double_value", 1.0), True),
        (0, ("sampling.priority", "string_value", "1"), True),
        (100, ("sampling.priority", "int_value", 0), False),
        (100, ("sampling.priority", "double_value", 0.0), False),
        (100, ("sampling.priority", "string_value", "0"), False),
        (0, ("no.sampling.priority", "int_value", 2), False),
        (100, ("no.sampling.priority", "int_value", 2), True),
        (100, ("sampling.priority", "int_value", -1), True),  # negative defers to the sampler
        (100, ("sampling.priority", "string_value", "NaN"), True),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])  # received bytes take the key-absent shortcut
def test_sampling_priority_overrides(mode, pct, attr, sampled, as_bytes):
    proc, sink, _ = make(sampling_percentage=pct, mode=mode, hash_seed=DEFAULT_SEED)
    # Go's helper trace id: randomness 0, so only 100% (or a priority) samples it
    traces = single_span("01" + "00" * 15, "", attr)
    if as_bytes:
        traces = Traces.from_bytes(traces.to_bytes())
    run(proc, traces)
    assert (len(sink.received) == 1) is sampled


def test_mixed_request_removes_dropped_spans_in_place_and_empty_groups():
    keep_tid = "ffffffffffffffffffffffffffffffff"  # randomness max: kept at 50%
    drop_tid = "00000000000000000000000000000001"  # randomness 1: dropped at 50%
    req = ExportTraceServiceRequest()
    rs1 = req.resource_spans.add()
    rs1.resource.attributes.add(key="service.name").value.string_value = "a"
    ss = rs1.scope_spans.add()
    ss.scope.name = "lib-a"
    for i, tid in enumerate([keep_tid, drop_tid, keep_tid, drop_tid]):
        ss.spans.add(name=f"a{i}", trace_id=bytes.fromhex(tid))
    rs1.scope_spans.add().spans.add(name="only-dropped", trace_id=bytes.fromhex(drop_tid))
    rs2 = req.resource_spans.add()
    rs2.scope_spans.add().spans.add(name="b0", trace_id=bytes.fromhex(drop_tid))
    proc, sink, tel = make(sampling_percentage=50, mode="proportional")
    traces = Traces(req)
    run(proc, traces)
    assert len(sink.received) == 1 and sink.received[0].span_count == 2
    out = ExportTraceServiceRequest.FromString(sink.received[0].to_bytes())
    assert len(out.resource_spans) == 1 and len(out.resource_spans[0].scope_spans) == 1
    assert out.resource_spans[0].scope_spans[0].scope.name == "lib-a"
    assert [s.name for s in out.resource_spans[0].scope_spans[0].spans] == ["a0", "a2"]
    assert all(s.trace_state == "ot=th:8" for s in out.resource_spans[0].scope_spans[0].spans)
    labels = {"processor": "probabilistic_sampler", "policy": "trace_id_w3c"}
    reg = tel.registry
    assert (
        reg.get_sample_value(
            "otelcol_processor_probabilistic_sampler_count_traces_sampled_total", {**labels, "sampled": "true"}
        )
        == 2
    )
    assert (
        reg.get_sample_value(
            "otelcol_processor_probabilistic_sampler_count_spans_processed_total", {**labels, "sampled": "false"}
        )
        == 4
    )


def test_everything_dropped_forwards_nothing():
    proc, sink, _ = make(sampling_percentage=0)
    run(proc, single_span(DEFAULT_TID))
    assert sink.received == []


def test_tracestate_parser_rejects_bad_input():
    for bad in ["ot=th:8;", "Bad=1", "ot=th:8," * 40, "k=" + "v" * 300, "ot=rv:12"]:
        with pytest.raises(sampling.TraceStateError):
            W3CTraceState.parse(bad)
    ts = W3CTraceState.parse(" ot=th:8;x:y , vendor=v ")
    assert (ts.tvalue, ts.ot_extra, ts.extra) == ("8", [("x", "y")], [("vendor", "v")])
    assert ts.serialize() == "ot=th:8;x:y,vendor=v"


@pytest.mark.parametrize(
    "cfg,key",
    [
        ({"sampling_percentage": -1}, "sampling_percentage"),
        ({"sampling_percentage": 1e-20}, "sampling_percentage"),
        ({"sampling_percentage": 10, "mode": "sometimes"}, "mode"),
        ({"sampling_percentage": 10, "sampling_precision": 15}, "sampling_precision"),
        ({"sampling_percentage": 10, "hash_seed": -1}, "hash_seed"),
        ({"sampling_percentage": 10, "typo": 1}, "typo"),
    ],
)
def test_invalid_config_names_the_key(cfg, key):
    with pytest.raises(ConfigError) as e:
        ProbabilisticSamplerConfig.from_mapping(cfg, "processors.probabilistic_sampler")
    assert e.value.path == f"processors.probabilistic_sampler.{key}"


@pytest.mark.parametrize("mode", ["hash_seed", "equalizing", "proportional"])
def test_partial_parse_of_received_bytes_forwards_the_same_request_as_a_full_parse(mode):
    """Received bytes without sampling.priority take the partial-parse path; what it forwards
    (kept spans with every field, tracestate updates, resource and scope) must equal the full path."""
    rng = random.Random(7)
    req = ExportTraceServiceRequest()
    for service in ("a", "b"):
        rs = req.resource_spans.add(schema_url="https://s")
        rs.resource.attributes.add(key="service.name").value.string_value = service
        ss = rs.scope_spans.add()
        ss.scope.name = "lib"
        for i in range(200):
            s = ss.spans.add(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                name=f"op{i}",
                kind=3,
                trace_state="vendor=x" if i % 3 == 0 else "",
            )
            s.attributes.add(key="i").value.int_value = i
            s.events.add(name="e").attributes.add(key="k").value.string_value = "v"
            s.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
            s.status.code = i % 3
    raw = req.SerializeToString()
    outputs = []
    for traces in (Traces(ExportTraceServiceRequest.FromString(raw)), Traces.from_bytes(raw)):
        proc, sink, _ = make(sampling_percentage=50, mode=mode)
        run(proc, traces)
        outputs.append(ExportTraceServiceRequest.FromString(b"".join(t.to_bytes() for t in sink.received)))
    full, partial = outputs
    assert 0 < sum(len(ss.spans) for rs in full.resource_spans for ss in rs.scope_spans) < 400
    assert partial == full
