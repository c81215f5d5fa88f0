"""Bad input against both otlp receiver protocols (issue 5, "Bad input").

Property-based (hypothesis, profile from OTEL_LITE_HYPOTHESIS_PROFILE: ``ci`` by default, ``fuzz`` for
many examples): every bad request gets a 4xx / INVALID_ARGUMENT (RESOURCE_EXHAUSTED for sizes) with a
reason, never a 5xx / INTERNAL / UNKNOWN; the receiver keeps serving; well-behaved clients sending at
the same time (raw gRPC, raw HTTP, the official OTLP exporters) lose nothing, counted span by span at
the pipeline's consumer; memory stays bounded.  Also: slow senders, compressed gRPC bombs, and a
replay of every input that once broke something (tests/collector/corpus/, written by
benchmarks/fuzz_receivers.py).
"""

from __future__ import annotations

import socket
import threading
import time

import grpc
import pytest
from hypothesis import given, settings

from tests.collector import fuzz_harness as fh

MIB = 1024 * 1024
# the clients' and the receiver's threads use `random` (retry jitter, ids) while hypothesis draws examples
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")


@pytest.fixture(scope="module")
def harness():
    h = fh.Harness()
    # warm up (imports, first connections) before the memory baseline
    with fh.GoodClients(h, interval=0.01) as good:
        time.sleep(0.5)
    h.verify_consumer(good)
    h.baseline_rss = h.rss()
    yield h
    h.close()


def _run_property(harness, cases, max_examples):
    """Run the hypothesis property over ``cases`` with the well-behaved clients sending meanwhile."""
    with fh.GoodClients(harness, interval=0.02) as good:

        @settings(fh.PROFILE, max_examples=max_examples)
        @given(case=cases)
        def prop(case):
            harness.run(case)

        prop()
    harness.verify_consumer(good)
    grown = harness.rss() - harness.baseline_rss
    # bodies are capped at 256 KiB (1 MiB on gRPC) before and after decompression: a leak or an
    # unbounded decompression would show as hundreds of MiB; allocator noise stays far below this
    assert grown < 150 * MIB, f"RSS grew by {grown / MIB:.0f} MiB"


# every kind gets its own share of examples (the profile's max_examples split over the kinds, at least 10)
_HTTP, _GRPC = fh.http_kinds(), fh.grpc_kinds()


@pytest.mark.parametrize("kind", list(_HTTP))
def test_http_bad_input(harness, kind):
    _run_property(harness, _HTTP[kind], max(10, fh.PROFILE.max_examples // 4))


@pytest.mark.parametrize("kind", list(_GRPC))
def test_grpc_bad_input(harness, kind):
    _run_property(harness, _GRPC[kind], max(10, fh.PROFILE.max_examples // 4))


# ---------------------------------------------------------------------------
# Specific cases, one each, so a regression names itself


@pytest.mark.parametrize(
    "case",
    [
        fh.Case("deep-raw-json", "http", fh.json_raw_deep(100_000), fh._JSON, invalid=True),
        fh.Case("deep-json", "http", fh.json_deep(600, "kvlist"), fh._JSON, invalid=True),
        fh.Case("deep-proto", "http", fh.proto_deep(600, "array"), invalid=True),
        fh.Case("deep-proto", "grpc", fh.proto_deep(600, "kvlist"), invalid=True),
        fh.Case(
            "json-overflow",
            "http",
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":1e999}]}]}]}',
            fh._JSON,
            invalid=True,
        ),
        fh.Case(
            "bad-ids-json",
            "http",
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"01 02 03 04 05 06 07 08"}]}]}]}',
            fh._JSON,
            invalid=True,
        ),
        fh.Case("bad-ids-proto", "grpc", fh.wire_request(fh.wire_span(trace_id=b"\x01" * 5)), invalid=True),
        fh.Case("bad-ids-proto", "http", fh.wire_request(fh.wire_span(span_id=b"\x01" * 16)), invalid=True),
        fh.Case(
            "bad-ids-proto", "grpc", fh.wire_request(fh.wire_span(extra=fh.ld(13, fh.ld(1, b"\x01" * 3)))), invalid=True
        ),
        fh.Case("invalid-utf8-proto", "grpc", fh.wire_request(fh.wire_span(name=b"\xc3\x28")), invalid=True),
        fh.Case("invalid-utf8-proto", "http", fh.wire_request(fh.wire_span(name=b"\xed\xa0\x80")), invalid=True),
        fh.Case("invalid-utf8-json", "http", fh.json_invalid_utf8(b"\xff\xfe"), fh._JSON, invalid=True),
        fh.Case("compression-bomb", "http", fh.gzip_bomb(16 * MIB), fh._PROTO, "gzip", invalid=True),
        fh.Case("compression-bomb", "http", fh.zstd_bomb(16 * MIB), fh._JSON, "zstd", invalid=True),
        fh.Case(
            "truncated-compressed",
            "http",
            fh._compress("zstd", fh.huge_request(1000, 10).SerializeToString())[:-3],
            fh._PROTO,
            "zstd",
            invalid=True,
        ),
    ],
    ids=lambda c: f"{c.protocol}-{c.kind}",
)
def test_known_bad_inputs(harness, case):
    harness.run(case)
    harness.verify_consumer()


def test_grpc_compressed_bomb_is_resource_exhausted(harness):
    """gRPC's own gzip: 8 MiB of zeros (a few KiB on the wire) against the 1 MiB message limit."""
    bomb = fh.huge_request(8 * MIB, 0).SerializeToString()
    with (
        grpc.insecure_channel(harness.grpc_target, compression=grpc.Compression.Gzip) as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        channel.unary_unary(fh.EXPORT_METHOD)(bomb, timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and info.value.details()
    harness.verify_consumer()


# ---------------------------------------------------------------------------
# Slow senders (the harness's receiver: read_header_timeout 3s, read_timeout 3s)


def _trickle(
    port: int, at_once: bytes, slowly: bytes, results: list, stop: threading.Event, linger: float = 10
) -> None:
    """Send ``at_once``, then ``slowly`` a byte every 100 ms; record what the server answered (within
    ``linger`` seconds of the last byte) and when."""
    start = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    received = b""
    try:
        sock.sendall(at_once)
        for b in slowly:
            if stop.is_set():
                break
            try:
                sock.sendall(bytes([b]))
            except OSError:
                break
            sock.settimeout(0.1)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        sock.settimeout(linger)
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except OSError:
            pass
    finally:
        sock.close()
    results.append((time.monotonic() - start, received))


def test_slow_senders_are_cut_off_and_others_are_served(harness):
    port = harness.http_port
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: 5000\r\n\r\n"
    ).encode()
    header_results, body_results = [], []
    stop = threading.Event()
    # ten senders trickle their headers, ten send their headers at once and trickle the body
    threads = [threading.Thread(target=_trickle, args=(port, b"", head, header_results, stop)) for _ in range(10)]
    threads += [
        threading.Thread(target=_trickle, args=(port, head, b"x" * 5000, body_results, stop)) for _ in range(10)
    ]

    with fh.GoodClients(harness, official=False) as good:
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        stop.set()
    harness.verify_consumer(good)
    assert good.requests > 10
    assert len(header_results) == 10 and len(body_results) == 10
    for elapsed, received in header_results:
        # cut off after ~3 s (read_header_timeout), long before the ~11 s the headers would take
        assert elapsed < 15, elapsed
        assert received.startswith(b"HTTP/1.1 408"), received
    for elapsed, received in body_results:
        assert elapsed < 15, elapsed
        assert received.startswith(b"HTTP/1.1 408"), received
        assert b"read_timeout" in received


# ---------------------------------------------------------------------------
# Regression corpus: inputs that once broke something (written by benchmarks/fuzz_receivers.py)

_CORPUS = sorted(fh.CORPUS.glob("*.json")) if fh.CORPUS.is_dir() else []


@pytest.mark.parametrize("path", _CORPUS, ids=[p.stem for p in _CORPUS])
def test_corpus_replay(harness, path):
    harness.run(fh.Case.from_json(path.read_text()))
    harness.verify_consumer()


def test_grpc_port_tricklers_do_not_disturb_others(harness):
    """Connections trickling a partial HTTP/2 preface to the gRPC port (gRPC's own handshake timeout
    closes them eventually): the well-behaved clients are served meanwhile."""
    port = int(harness.grpc_target.rsplit(":", 1)[1])
    results, stop = [], threading.Event()
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 40
    threads = [threading.Thread(target=_trickle, args=(port, b"", preface[:30], results, stop, 0.2)) for _ in range(10)]
    with fh.GoodClients(harness, official=False) as good:
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        stop.set()
    harness.verify_consumer(good)
    assert good.requests > 10 and len(results) == 10


def test_http_header_flood_is_refused(harness):
    """Headers past uvicorn's 64 KiB incomplete-event limit: a 4xx and the connection closed."""
    head = (
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        + "".join(f"X-Flood-{i}: {'v' * 100}\r\n" for i in range(2000))
    ).encode()
    with socket.create_connection(("127.0.0.1", harness.http_port), timeout=30) as sock:
        try:
            sock.sendall(head)
        except OSError:  # refused while still sending
            pass
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except OSError:
            pass
    assert received == b"" or received.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431", b"HTTP/1.1 413")), received[:200]
    harness.verify_consumer()
