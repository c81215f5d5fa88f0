"""Bad input against a real otlp receiver: shared by tests/collector/test_receiver_bad_input.py and the
fuzz campaign in benchmarks/fuzz_receivers.py.

* ``Harness`` runs the real collector (otlp receiver on free loopback ports, gRPC + HTTP) with a
  counting exporter at the end of the pipeline, and sends one ``Case`` over a real gRPC channel or a
  real HTTP connection.
* ``GoodClients`` are well-behaved senders running concurrently (raw protobuf over gRPC and HTTP,
  OTLP/JSON, and the official ``opentelemetry-exporter-otlp`` exporters); ``verify`` checks that
  every span they had acknowledged reached the consumer exactly once.
* ``check`` is the property every answer must satisfy: a 4xx / INVALID_ARGUMENT (RESOURCE_EXHAUSTED
  for sizes) with a non-empty reason, never 5xx / INTERNAL / UNKNOWN; accepted requests are counted
  so that the consumer's total can be checked exactly.
* The hypothesis strategies generate the cases: random bytes, mutated and truncated valid protobuf,
  malformed JSON, wrong field types, bad ids, invalid UTF-8, deep nesting, huge values and counts,
  compression bombs, truncated compressed streams, wrong content types and encodings.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import gzip
import hashlib
import http.client
import itertools
import json
import os
import threading
import zlib
from pathlib import Path

import grpc
import psutil
import zstandard
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otel_lite.collector import registry
from otel_lite.collector.component import Component, ComponentConfig, Factory
from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.consumer import count_spans
from otel_lite.collector.receivers.otlp import otlp_json_to_request
from otel_lite.collector.service import Collector
from otel_lite.otlp.wire import varint
from tests.collector.conftest import LoopThread

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LIMIT = 256 * 1024  # max_request_body_size and (rounded up to 1 MiB) the gRPC message limit
GRPC_LIMIT = 1024 * 1024
GOOD_KEY = "fuzz.good_client"  # resource attribute marking the well-behaved clients' spans
CORPUS = Path(__file__).resolve().parent / "corpus"

# ---------------------------------------------------------------------------
# hypothesis profiles: "ci" (default: few examples, derandomized so CI is deterministic) and "fuzz"
# (many random examples); chosen with OTEL_LITE_HYPOTHESIS_PROFILE.  Applied only to these tests.

settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, derandomize=False, database=None, suppress_health_check=list(HealthCheck)
)
PROFILE = settings.get_profile(os.environ.get("OTEL_LITE_HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------------------
# The collector under test


class CountingExporter(Component):
    """Counts what reaches the end of the pipeline: the good clients' span ids, and every other span."""

    def __init__(self):
        self.lock = threading.Lock()
        self.good: collections.Counter = collections.Counter()
        self.other_spans = 0

    async def consume(self, traces):
        good, other = [], 0
        for rs in traces.message.resource_spans:
            mine = any(kv.key == GOOD_KEY for kv in rs.resource.attributes)
            for ss in rs.scope_spans:
                if mine:
                    good.extend(span.span_id for span in ss.spans)
                else:
                    other += len(ss.spans)
        with self.lock:
            self.good.update(good)
            self.other_spans += other


_COUNTING = Factory(
    kind="exporter",
    type="counting",
    config_class=ComponentConfig,
    create=lambda settings, config, nxt: CountingExporter(),
)


def _lookup(kind, type_name):
    return _COUNTING if (kind, type_name) == ("exporter", "counting") else registry.lookup(kind, type_name)


CONFIG = f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0", max_recv_msg_size_mib: {GRPC_LIMIT // (1024 * 1024)}}}
      http: {{endpoint: "127.0.0.1:0", max_request_body_size: {LIMIT}, read_header_timeout: 3s, read_timeout: 3s}}
exporters:
  counting:
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [counting]}}
  telemetry: {{metrics: {{level: none}}}}
"""


@dataclasses.dataclass
class Case:
    """One request: ``protocol`` grpc or http; for http the Content-Type (None: no header) and
    Content-Encoding; ``invalid`` when the request must be refused whatever the receiver thinks."""

    kind: str
    protocol: str
    body: bytes
    ctype: str | None = "application/x-protobuf"
    encoding: str | None = None
    invalid: bool = False

    def to_json(self, broke: str) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "protocol": self.protocol,
                "ctype": self.ctype,
                "encoding": self.encoding,
                "invalid": self.invalid,
                "broke": broke,
                "body_b64": base64.b64encode(self.body).decode(),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Case:
        d = json.loads(text)
        return cls(d["kind"], d["protocol"], base64.b64decode(d["body_b64"]), d["ctype"], d["encoding"], d["invalid"])

    def file_name(self, broke: str) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in broke.lower())[:40].strip("-")
        return f"{self.protocol}-{self.kind}-{slug}-{hashlib.sha1(self.body).hexdigest()[:10]}.json"


class Violation(AssertionError):
    pass


class Harness:
    def __init__(self, config: str = CONFIG):
        self.lt = LoopThread()
        try:
            self.collector = self.lt.call(Collector, build_config(parse_yaml(config), _lookup))
            self.lt.run(self.collector.start())
        except BaseException:
            self.lt.close()
            raise
        self.receiver = self.collector.graph.get("receiver", "otlp")
        self.consumer = self.collector.graph.get("exporter", "counting")
        self.grpc_target = f"127.0.0.1:{self.receiver.grpc_port}"
        self.http_port = self.receiver.http_port
        self.http_url = f"http://127.0.0.1:{self.http_port}/v1/traces"
        self.channel = grpc.insecure_channel(self.grpc_target)
        self.export = self.channel.unary_unary(EXPORT_METHOD)
        self.expected_other = 0  # spans of accepted bad-input requests
        self.cases = collections.Counter()
        self.process = psutil.Process()

    def close(self) -> None:
        self.channel.close()
        try:
            self.lt.run(self.collector.shutdown())
        finally:
            self.lt.close()

    def rss(self) -> int:
        return self.process.memory_info().rss

    # -- sending ------------------------------------------------------------
    def send(self, case: Case) -> tuple:
        """→ ("grpc", code, details) or ("http", status, headers, body) or ("http-closed", error)."""
        if case.protocol == "grpc":
            try:
                self.export(case.body, timeout=30)
                return ("grpc", grpc.StatusCode.OK, "")
            except grpc.RpcError as e:
                return ("grpc", e.code(), e.details() or "")
        return http_post(self.http_port, case.body, case.ctype, case.encoding)

    def run(self, case: Case) -> None:
        """Send ``case`` and check the answer; raises ``Violation``."""
        self.cases[case.kind] += 1
        answer = self.send(case)
        accepted = check(case, answer)
        if accepted:
            self.expected_other += local_span_count(case)

    def verify_consumer(self, good: GoodClients | None = None) -> None:
        with self.consumer.lock:
            other, received_good = self.consumer.other_spans, collections.Counter(self.consumer.good)
        if other != self.expected_other:
            raise Violation(
                f"consumer got {other} spans from accepted bad-input requests, expected {self.expected_other}"
            )
        if good is not None:
            good.verify(received_good)


def http_post(port: int, body: bytes, ctype: str | None, encoding: str | None, timeout: float = 30) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Length": str(len(body))}
    if ctype is not None:
        headers["Content-Type"] = ctype
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    try:
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        resp = conn.getresponse()
        return ("http", resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    except (ConnectionError, http.client.RemoteDisconnected) as e:
        # an oversized body may be refused (400 + close) while it is still being sent: the client then
        # sees the connection close instead of the answer, as with any HTTP server
        return ("http-closed", repr(e))
    finally:
        conn.close()


def check(case: Case, answer: tuple) -> bool:
    """The property; returns whether the request was accepted."""
    if answer[0] == "grpc":
        _, code, details = answer
        if code == grpc.StatusCode.OK:
            if case.invalid:
                raise Violation(f"gRPC accepted an invalid {case.kind} request")
            return True
        if code not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
            raise Violation(f"gRPC answered {code.name}: {details!r}")
        if not details.strip():
            raise Violation(f"gRPC answered {code.name} without a reason")
        return False
    if answer[0] == "http-closed":
        if len(case.body) > LIMIT:
            return False
        raise Violation(f"HTTP connection closed without an answer: {answer[1]}")
    _, status, headers, body = answer
    if status == 200:
        if case.invalid:
            raise Violation(f"HTTP accepted an invalid {case.kind} request")
        return True
    if status >= 500 or not 400 <= status < 500:
        raise Violation(f"HTTP answered {status}: {body[:300]!r}")
    if status == 415:
        if not body.strip():
            raise Violation("415 without a reason")
        return False
    ctype = headers.get("content-type", "")
    try:
        if ctype == "application/json":
            status_msg = json_format.Parse(body, status_pb2.Status(), ignore_unknown_fields=True)
        elif ctype == "application/x-protobuf":
            status_msg = status_pb2.Status.FromString(body)
        else:
            raise Violation(f"HTTP {status} with content type {ctype!r}: {body[:200]!r}")
    except (json_format.ParseError, ValueError) as e:
        raise Violation(f"HTTP {status} body is not a google.rpc.Status: {e}") from None
    if status_msg.code in (code_pb2.INTERNAL, code_pb2.UNKNOWN, code_pb2.OK):
        raise Violation(f"HTTP {status} with Status code {status_msg.code}: {status_msg.message!r}")
    if not status_msg.message.strip():
        raise Violation(f"HTTP {status} without a reason")
    return False


def local_span_count(case: Case) -> int:
    """Spans in an accepted request, decoded independently of the receiver's decompression."""
    body = case.body
    if case.protocol == "http":
        enc = (case.encoding or "").strip().lower()
        if not body:  # no stream at all: an empty request, whatever the encoding says
            return 0
        if enc == "gzip":
            body = gzip.decompress(body)
        elif enc in ("deflate", "zlib"):
            body = zlib.decompress(body)
        elif enc == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        if (case.ctype or "").split(";")[0].strip().lower() == "application/json":
            return count_spans(otlp_json_to_request(body))
    return count_spans(ExportTraceServiceRequest.FromString(body))


# ---------------------------------------------------------------------------
# Well-behaved clients running while the bad input arrives


def _good_request(seq: int, n: int) -> tuple[ExportTraceServiceRequest, list[bytes]]:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = GOOD_KEY, "raw"
    ss = rs.scope_spans.add()
    ss.scope.name = "good"
    ids = []
    for i in range(n):
        span = ss.spans.add()
        span.trace_id = seq.to_bytes(8, "big") + i.to_bytes(8, "big")
        span.span_id = ((seq << 16) | i).to_bytes(8, "big")
        span.name = f"good-{seq}-{i}"
        span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_100_000_000
        ids.append(span.span_id)
    return req, ids


def _to_otlp_json(req: ExportTraceServiceRequest) -> bytes:
    data = json_format.MessageToDict(req)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data).encode()


_SEQUENCE = itertools.count(1)


class GoodClients:
    """Threads sending valid requests every ``interval`` seconds until stopped: raw gRPC, raw HTTP
    (protobuf, then OTLP/JSON, then gzip), and the official OTLP exporters (gRPC and HTTP)."""

    def __init__(self, harness: Harness, interval: float = 0.05, official: bool = True):
        self.h = harness
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked: collections.Counter = collections.Counter()
        self.errors: list[str] = []
        self.requests = 0
        self._seq = _SEQUENCE  # shared, so ids never repeat across runs on one harness
        self.baseline: collections.Counter = collections.Counter()
        targets = [self._raw_grpc, self._raw_http]
        if official:
            targets.append(self._official)
        self.threads = [
            threading.Thread(target=self._loop, args=(t,), daemon=True, name=f"good-{t.__name__}") for t in targets
        ]

    def __enter__(self):
        with self.h.consumer.lock:
            self.baseline = collections.Counter(self.h.consumer.good)
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(60)

    def _loop(self, send) -> None:
        state = {}
        try:
            while not self.stop_event.is_set():
                with self.lock:
                    seq = next(self._seq)
                try:
                    ids = send(seq, state)
                except Exception as e:  # any failure of a good request is a finding
                    with self.lock:
                        self.errors.append(f"{send.__name__}: {e!r}")
                else:
                    with self.lock:
                        self.acked.update(ids)
                        self.requests += 1
                self.stop_event.wait(self.interval)
        finally:
            for closer in state.values():
                if hasattr(closer, "close"):
                    closer.close()
                elif hasattr(closer, "shutdown"):
                    closer.shutdown()

    def _raw_grpc(self, seq, state):
        if "channel" not in state:
            state["channel"] = grpc.insecure_channel(self.h.grpc_target)
        req, ids = _good_request(seq, 3)
        state["channel"].unary_unary(EXPORT_METHOD)(req.SerializeToString(), timeout=30)
        return ids

    def _raw_http(self, seq, state):
        req, ids = _good_request(seq, 2)
        variant = seq % 3
        if variant == 0:
            body, ctype, enc = req.SerializeToString(), "application/x-protobuf", None
        elif variant == 1:
            body, ctype, enc = _to_otlp_json(req), "application/json", None
        else:
            body, ctype, enc = gzip.compress(req.SerializeToString()), "application/x-protobuf", "gzip"
        answer = http_post(self.h.http_port, body, ctype, enc)
        if answer[0] != "http" or answer[1] != 200:
            raise AssertionError(f"good HTTP request answered {answer[:2]} {answer[-1]!r:.200}")
        return ids

    def _official(self, seq, state):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        class UrandomIds(IdGenerator):  # not the `random` module, which hypothesis reseeds per example
            def generate_span_id(self) -> int:
                return int.from_bytes(os.urandom(8), "big") or 1

            def generate_trace_id(self) -> int:
                return int.from_bytes(os.urandom(16), "big") or 1

        if "provider" not in state:
            state["memory"] = InMemorySpanExporter()
            provider = state["provider"] = TracerProvider(
                resource=Resource.create({GOOD_KEY: "official"}), shutdown_on_exit=False, id_generator=UrandomIds()
            )
            provider.add_span_processor(SimpleSpanProcessor(state["memory"]))
            state["grpc"] = GrpcExporter(endpoint=self.h.grpc_target, insecure=True, timeout=30)
            state["http"] = HttpExporter(endpoint=self.h.http_url, timeout=30)
        tracer = state["provider"].get_tracer("good-official")
        with (
            tracer.start_as_current_span(f"official-{seq}", attributes={"seq": seq}),
            tracer.start_as_current_span("child"),
        ):
            pass
        spans = state["memory"].get_finished_spans()
        state["memory"].clear()
        exporter = state["grpc"] if seq % 2 else state["http"]
        result = exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            raise AssertionError(f"official exporter: {result}")
        return [s.context.span_id.to_bytes(8, "big") for s in spans]

    def verify(self, received: collections.Counter) -> None:
        with self.lock:
            errors, acked, requests = list(self.errors), collections.Counter(self.acked), self.requests
        received = received - self.baseline
        if errors:
            raise Violation(f"well-behaved clients failed: {errors[:5]}")
        if requests == 0:
            raise Violation("the well-behaved clients sent nothing")
        missing = acked - received
        extra = received - acked
        if missing or extra:
            raise Violation(
                f"well-behaved clients: {sum(missing.values())} acknowledged spans missing, "
                f"{sum(extra.values())} unexpected or duplicated"
            )


# ---------------------------------------------------------------------------
# Hand-written protobuf wire format (for what the protobuf runtime refuses to build: invalid UTF-8,
# nesting past the recursion limit, ids of any length)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def wire_request(span_fields: bytes, resource_attrs: bytes = b"") -> bytes:
    """ExportTraceServiceRequest{resource_spans{resource{attributes}, scope_spans{spans{<span_fields>}}}}."""
    resource = ld(1, resource_attrs) if resource_attrs else b""
    return ld(1, resource + ld(2, ld(2, span_fields)))


def wire_span(
    trace_id: bytes = b"\x01" * 16, span_id: bytes = b"\x02" * 8, name: bytes = b"span", extra: bytes = b""
) -> bytes:
    return ld(1, trace_id) + ld(2, span_id) + ld(5, name) + extra


def wire_nested_value(depth: int, shape: str) -> bytes:
    """An AnyValue nested ``depth`` levels deep through arrays ("array") or kvlists ("kvlist")."""
    value = ld(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        if shape == "array":  # noqa: SIM108 - one comment per wire shape
            value = ld(5, ld(1, value))  # AnyValue.array_value{values}
        else:
            value = ld(6, ld(1, ld(1, b"k") + ld(2, value)))  # AnyValue.kvlist_value{values{key, value}}
    return value


def json_nested_value(depth: int, shape: str) -> str:
    if shape == "array":
        return '{"arrayValue":{"values":[' * depth + '{"stringValue":"leaf"}' + "]}}" * depth
    return '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"stringValue":"leaf"}' + "}]}}" * depth


# ---------------------------------------------------------------------------
# Strategies

_text = st.text(max_size=20)


def _array_value(items) -> AnyValue:
    v = AnyValue()
    v.array_value.SetInParent()
    for item in items:
        v.array_value.values.add().CopyFrom(item)
    return v


def _kvlist_value(pairs) -> AnyValue:
    v = AnyValue()
    v.kvlist_value.SetInParent()
    for key, item in pairs:
        kv = v.kvlist_value.values.add()
        kv.key = key
        kv.value.CopyFrom(item)
    return v


any_values = st.recursive(
    st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=30))
    | st.builds(lambda b: AnyValue(bool_value=b), st.booleans())
    | st.builds(lambda i: AnyValue(int_value=i), st.integers(-(1 << 63), (1 << 63) - 1))
    | st.builds(lambda f: AnyValue(double_value=f), st.floats())
    | st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=20)),
    lambda children: (
        st.builds(_array_value, st.lists(children, max_size=3))
        | st.builds(_kvlist_value, st.lists(st.tuples(_text, children), max_size=3))
    ),
    max_leaves=8,
)
_attrs = st.lists(st.tuples(_text, any_values), max_size=4)


def _add_attrs(target, attrs) -> None:
    for key, value in attrs:
        kv = target.add()
        kv.key = key
        kv.value.CopyFrom(value)


@st.composite
def valid_requests(draw) -> ExportTraceServiceRequest:
    """Valid ExportTraceServiceRequests built with opentelemetry-proto (ids of the right length)."""
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rs = req.resource_spans.add()
        _add_attrs(rs.resource.attributes, draw(_attrs))
        for _ in range(draw(st.integers(1, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = draw(_text), draw(_text)
            for _ in range(draw(st.integers(0, 3))):
                span = ss.spans.add()
                span.trace_id = draw(st.binary(min_size=16, max_size=16))
                span.span_id = draw(st.binary(min_size=8, max_size=8))
                span.parent_span_id = draw(st.sampled_from([b"", b"\x03" * 8]))
                span.name = draw(_text)
                span.kind = draw(st.integers(0, 5))
                span.start_time_unix_nano = draw(st.integers(0, (1 << 64) - 1))
                span.end_time_unix_nano = draw(st.integers(0, (1 << 64) - 1))
                _add_attrs(span.attributes, draw(_attrs))
                for _ in range(draw(st.integers(0, 2))):
                    event = span.events.add()
                    event.name = draw(_text)
                    event.time_unix_nano = draw(st.integers(0, (1 << 64) - 1))
                    _add_attrs(event.attributes, draw(_attrs))
                if draw(st.booleans()):
                    link = span.links.add()
                    link.trace_id = draw(st.binary(min_size=16, max_size=16))
                    link.span_id = draw(st.binary(min_size=8, max_size=8))
                span.status.code = draw(st.integers(0, 2))
                span.status.message = draw(_text)
    return req


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` with a few byte-level mutations: flips, truncation, insertions, deletions, duplication."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate", "set"]))
        pos = draw(st.integers(0, max(0, len(data))))
        if op == "flip" and data:
            pos = min(pos, len(data) - 1)
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            pos = min(pos, len(data) - 1)
            data[pos] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x22, 0x08]))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "duplicate" and data:
            end = min(len(data), pos + draw(st.integers(1, 32)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


def _valid_json(req: ExportTraceServiceRequest) -> dict:
    return json.loads(_to_otlp_json(req))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    """Every (path) into a JSON document."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _replace(obj, path, value):
    if not path:
        return value
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return obj


@st.composite
def wrong_types(draw) -> bytes:
    """Valid OTLP/JSON with one value anywhere replaced by a JSON value of any type."""
    doc = _valid_json(draw(valid_requests()))
    path = draw(st.sampled_from(list(_paths(doc))))
    return json.dumps(_replace(doc, path, draw(json_values))).encode()


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


@st.composite
def json_bad_ids(draw) -> bytes:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "s"
    doc = _valid_json(req)
    key = draw(st.sampled_from(_ID_KEYS))
    size = 16 if key == "traceId" else 8
    bad = draw(
        st.text(alphabet="0123456789abcdef", max_size=40).filter(lambda s: s and len(s) != size * 2)
        | st.text(min_size=size * 2, max_size=size * 2).filter(
            lambda s: not all(c in "0123456789abcdefABCDEF" for c in s)
        )
        | st.just(base64.b64encode(b"\x01" * size).decode())
        | st.just(" " + "ab" * (size - 1) + " ")
        | st.just("ab " * (size - 1) + "ab")
    )
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0][key] = bad
    return json.dumps(doc).encode()


@st.composite
def proto_bad_ids(draw) -> bytes:
    which = draw(st.sampled_from(["trace", "span", "parent", "link_trace", "link_span"]))
    wrong = draw(st.binary(min_size=1, max_size=40).filter(lambda b: len(b) not in (8, 16)))
    tid, sid, extra = b"\x01" * 16, b"\x02" * 8, b""
    if which == "trace":
        tid = wrong
    elif which == "span":
        sid = wrong
    elif which == "parent":
        extra = ld(4, wrong)
    else:
        link = ld(1, wrong if which == "link_trace" else b"\x01" * 16) + ld(
            2, wrong if which == "link_span" else b"\x02" * 8
        )
        extra = ld(13, link)
    return wire_request(wire_span(tid, sid, extra=extra))


_invalid_utf8 = st.binary(min_size=1, max_size=12).filter(lambda b: not _is_utf8(b))


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@st.composite
def proto_invalid_utf8(draw) -> bytes:
    bad = draw(_invalid_utf8)
    where = draw(st.sampled_from(["name", "attr_key", "attr_value", "resource", "event"]))
    if where == "name":
        return wire_request(wire_span(name=bad))
    if where == "attr_key":
        return wire_request(wire_span(extra=ld(9, ld(1, bad) + ld(2, ld(1, b"v")))))
    if where == "attr_value":
        return wire_request(wire_span(extra=ld(9, ld(1, b"k") + ld(2, ld(1, bad)))))
    if where == "event":
        return wire_request(wire_span(extra=ld(11, ld(2, bad))))
    return wire_request(wire_span(), resource_attrs=ld(1, ld(1, b"service.name") + ld(2, ld(1, bad))))


def json_invalid_utf8(bad: bytes) -> bytes:
    return (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"'
        + b"01" * 16
        + b'","spanId":"'
        + b"02" * 8
        + b'","name":"'
        + bad
        + b'"}]}]}]}'
    )


def proto_deep(depth: int, shape: str) -> bytes:
    return wire_request(wire_span(extra=ld(9, ld(1, b"deep") + ld(2, wire_nested_value(depth, shape)))))


def json_deep(depth: int, shape: str) -> bytes:
    return (
        '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"'
        + "01" * 16
        + '","spanId":"'
        + "02" * 8
        + '","name":"deep","attributes":[{"key":"deep","value":'
        + json_nested_value(depth, shape)
        + "}]}]}]}]}"
    ).encode()


def json_raw_deep(depth: int) -> bytes:
    """Deeply nested JSON that is not OTLP at all: json.loads's recursion limit."""
    return ('{"resourceSpans":' + "[" * depth + "]" * depth + "}").encode()


def huge_request(value_size: int, attr_count: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "huge"
    if value_size:
        kv = span.attributes.add()
        kv.key, kv.value.string_value = "big", "x" * value_size
    for i in range(attr_count):
        kv = span.attributes.add()
        kv.key, kv.value.int_value = f"a{i}", i
    return req


def gzip_bomb(size: int) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    out = []
    for _ in range(size >> 20):
        out.append(co.compress(chunk))
    out.append(co.flush())
    return b"".join(out)


def zstd_bomb(size: int) -> bytes:
    co = zstandard.ZstdCompressor(level=19).compressobj()
    chunk = b"\0" * (1 << 20)
    out = [co.compress(chunk) for _ in range(size >> 20)]
    out.append(co.flush())
    return b"".join(out)


def _compress(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding in ("deflate", "zlib"):
        return zlib.compress(data)
    return zstandard.ZstdCompressor().compress(data)


_PROTO, _JSON = "application/x-protobuf", "application/json"
# header values http.client can send: printable latin-1, no CR/LF
_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30)
_ENCODINGS = ["gzip", "deflate", "zlib", "zstd"]


@st.composite
def truncated_compressed(draw, requests) -> Case:
    """A compressed valid request cut anywhere (an empty body is no stream at all: not cut to 0)."""
    enc = draw(st.sampled_from(_ENCODINGS))
    body = _compress(enc, draw(requests).SerializeToString())
    return Case("truncated-compressed", "http", body[: draw(st.integers(1, len(body) - 1))], _PROTO, enc, invalid=True)


@st.composite
def mutated_compressed(draw, requests) -> Case:
    enc = draw(st.sampled_from(_ENCODINGS))
    body = draw(mutated(_compress(enc, draw(requests).SerializeToString())))
    return Case("mutated-compressed", "http", body, _PROTO, enc)


def http_kinds() -> dict:
    """Every kind of bad HTTP request (some kinds produce valid requests now and then), by kind."""
    req = valid_requests()
    kinds = [
        st.builds(
            lambda b, ct: Case("random-bytes", "http", b, ct), st.binary(max_size=300), st.sampled_from([_PROTO, _JSON])
        ),
        st.builds(lambda b: Case("mutated-proto", "http", b), req.flatmap(lambda r: mutated(r.SerializeToString()))),
        st.builds(lambda b: Case("mutated-json", "http", b, _JSON), req.flatmap(lambda r: mutated(_to_otlp_json(r)))),
        st.builds(
            lambda t: Case("malformed-json", "http", t.encode("utf-8", "surrogatepass"), _JSON), st.text(max_size=200)
        ),
        st.builds(lambda b: Case("wrong-types-json", "http", b, _JSON), wrong_types()),
        st.builds(lambda b: Case("bad-ids-json", "http", b, _JSON, invalid=True), json_bad_ids()),
        st.builds(lambda b: Case("bad-ids-proto", "http", b, invalid=True), proto_bad_ids()),
        st.builds(lambda b: Case("invalid-utf8-proto", "http", b, invalid=True), proto_invalid_utf8()),
        st.builds(
            lambda b: Case("invalid-utf8-json", "http", json_invalid_utf8(b), _JSON, invalid=True), _invalid_utf8
        ),
        st.builds(
            lambda d, s: Case("deep-proto", "http", proto_deep(d, s), invalid=d >= 100),
            st.integers(1, 600),
            st.sampled_from(["array", "kvlist"]),
        ),
        st.builds(
            lambda d, s: Case("deep-json", "http", json_deep(d, s), _JSON, invalid=d >= 100),
            st.integers(1, 600),
            st.sampled_from(["array", "kvlist"]),
        ),
        st.builds(
            lambda d: Case("deep-raw-json", "http", json_raw_deep(d), _JSON, invalid=True), st.integers(500, 200_000)
        ),
        st.builds(
            lambda size, n, ct: Case(
                "huge-values",
                "http",
                huge_request(size, n).SerializeToString() if ct == _PROTO else _to_otlp_json(huge_request(size, n)),
                ct,
            ),
            st.integers(0, 2 * LIMIT),
            st.integers(0, 20_000),
            st.sampled_from([_PROTO, _JSON]),
        ),
        st.builds(
            lambda enc, ct: Case(
                "compression-bomb",
                "http",
                (gzip_bomb if enc == "gzip" else zstd_bomb)(4 * LIMIT),
                ct,
                enc,
                invalid=True,
            ),
            st.sampled_from(["gzip", "zstd"]),
            st.sampled_from([_PROTO, _JSON]),
        ),
        truncated_compressed(req),
        mutated_compressed(req),
        st.builds(
            lambda r, ct: Case("wrong-content-type", "http", r.SerializeToString(), ct),
            req,
            st.none()
            | st.sampled_from(
                [
                    "text/plain",
                    "application/protobuf",
                    "application/grpc",
                    "application/x-www-form-urlencoded",
                    "",
                    "application/json",
                    "application/x-protobuf; charset=\xff",
                    "*/*",
                ]
            )
            | _header_text,
        ),
        st.builds(
            lambda r, enc: Case(
                "wrong-content-encoding",
                "http",
                r.SerializeToString(),
                _PROTO,
                enc,
                invalid=enc.strip().lower() not in ("", "identity"),
            ),
            req,
            st.sampled_from(
                [
                    "br",
                    "snappy",
                    "lz4",
                    "gzip, gzip",
                    "x-gzip",
                    "compress",
                    "GZIP\t",
                    "identity",
                    "zstd ",
                    "deflate;q=1",
                    "",
                ]
            )
            | _header_text,
        ),
    ]
    names = [
        "random-bytes",
        "mutated-proto",
        "mutated-json",
        "malformed-json",
        "wrong-types-json",
        "bad-ids-json",
        "bad-ids-proto",
        "invalid-utf8-proto",
        "invalid-utf8-json",
        "deep-proto",
        "deep-json",
        "deep-raw-json",
        "huge-values",
        "compression-bomb",
        "truncated-compressed",
        "mutated-compressed",
        "wrong-content-type",
        "wrong-content-encoding",
    ]
    return dict(zip(names, kinds, strict=True))


def grpc_kinds() -> dict:
    req = valid_requests()
    return {
        "random-bytes": st.builds(lambda b: Case("random-bytes", "grpc", b), st.binary(max_size=300)),
        "mutated-proto": st.builds(
            lambda b: Case("mutated-proto", "grpc", b), req.flatmap(lambda r: mutated(r.SerializeToString()))
        ),
        "bad-ids-proto": st.builds(lambda b: Case("bad-ids-proto", "grpc", b, invalid=True), proto_bad_ids()),
        "invalid-utf8-proto": st.builds(
            lambda b: Case("invalid-utf8-proto", "grpc", b, invalid=True), proto_invalid_utf8()
        ),
        "deep-proto": st.builds(
            lambda d, s: Case("deep-proto", "grpc", proto_deep(d, s), invalid=d >= 100),
            st.integers(1, 600),
            st.sampled_from(["array", "kvlist"]),
        ),
        "huge-values": st.builds(
            lambda size, n: Case("huge-values", "grpc", huge_request(size, n).SerializeToString()),
            st.integers(0, 2 * GRPC_LIMIT),
            st.integers(0, 20_000),
        ),
    }


def http_cases():
    return st.one_of(*http_kinds().values())


def grpc_cases():
    return st.one_of(*grpc_kinds().values())
