#!/usr/bin/env python3
"""Legacy-protocol load for the collector benchmark (``collector_bench.py --scenarios legacy``).

Two halves:
  * run as a script, a load generator process: pre-builds Jaeger payloads
    (same span shape as loadgen.py: traces of 10 spans, 5-10 tags each) and
    sends them at a fixed rate over one protocol, then prints a JSON result:

        python benchmarks/legacy_load.py --protocol jaeger_grpc --endpoint 127.0.0.1:14250 \
            --rate 10000 --duration 5 --spans-per-request 100

  * imported, ``PROTOCOLS`` (receiver config + how to wait for it) and
    ``start_ours_legacy`` start our collector with that receiver in front of a
    counting sink, so the bench measures CPU exactly as for OTLP.

UDP protocols have no acknowledgement: "acked" is what was sent, and the sink
count says what arrived.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SPANS_PER_TRACE = 10
POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"

# protocol -> (receiver type, receiver protocol key, transport kind)
PROTOCOLS = {
    "jaeger_grpc": ("jaeger", "grpc", "tcp"),
    "jaeger_thrift_http": ("jaeger", "thrift_http", "tcp"),
    "jaeger_thrift_compact": ("jaeger", "thrift_compact", "udp"),
    "jaeger_thrift_binary": ("jaeger", "thrift_binary", "udp"),
    # receivers configured by a top-level endpoint (no protocols key)
    "zipkin_json": ("zipkin", None, "tcp"),
    "zipkin_proto": ("zipkin", None, "tcp"),
    "opencensus": ("opencensus", None, "tcp"),
}
OC_EXPORT = "/opencensus.proto.agent.trace.v1.TraceService/Export"


# -- payloads ------------------------------------------------------------------


def _spans(rng: random.Random, n: int, now_us: int) -> tuple[str, list]:
    """Neutral span descriptions: (trace high, low, span id, parent, name, start µs, duration µs, tags)."""
    services = ("checkout", "frontend", "cart", "payments")
    routes = ("/api/orders", "/api/orders/{id}", "/api/users/{id}", "/api/cart", "/health", "/api/search")
    out = []
    high = low = root = 0
    for i in range(n):
        pos = i % SPANS_PER_TRACE
        if pos == 0:
            high, low = rng.getrandbits(63), rng.getrandbits(63)
        span_id = rng.getrandbits(63) or 1
        method, route = rng.choice(("GET", "POST", "PUT", "DELETE")), rng.choice(routes)
        status = 200 if rng.random() > 0.05 else 500
        tags = {
            "span.kind": "server" if pos == 0 else ("client" if pos % 3 else "internal"),
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
            "server.address": "svc.cluster.local",
            "user.id": f"u-{rng.randrange(1_000_000)}",
        }
        for j in range(rng.randrange(0, 6)):
            tags[f"app.attr_{j}"] = rng.choice(("alpha", "beta", "gamma", 42, 3.14, True))
        if status == 500:
            tags["error"] = True
        start = now_us - rng.randrange(1_000_000) - (SPANS_PER_TRACE - pos) * 1000
        out.append(
            (
                high,
                low,
                span_id,
                0 if pos == 0 else root,
                f"{method} {route}" if pos == 0 else f"call-{pos}",
                start,
                rng.randrange(50, 50_000),
                tags,
            )
        )
        if pos == 0:
            root = span_id
    return rng.choice(services), out


def build_payloads(protocol: str, spans_per_request: int, pool: int, seed: int = 1) -> list[bytes]:
    sys.path.insert(0, str(REPO))
    from thriftpy2.protocol import TBinaryProtocol, TCompactProtocol
    from thriftpy2.thrift import TMessageType
    from thriftpy2.transport import TMemoryBuffer

    from otel_lite.collector.legacy_proto.jaeger.api_v2 import collector_pb2, model_pb2
    from otel_lite.collector.receivers.jaeger import agent_thrift
    from otel_lite.collector.receivers.jaeger import jaeger_thrift as jt

    rng = random.Random(seed)
    now_us = time.time_ns() // 1000
    if protocol in ("zipkin_json", "zipkin_proto", "opencensus"):
        return _zipkin_oc_payloads(protocol, rng, spans_per_request, pool, now_us)
    payloads = []
    for _ in range(pool):
        service, spans = _spans(rng, spans_per_request, now_us)
        process_tags = {"hostname": f"node-{rng.randrange(64):02d}", "jaeger.version": "Python-4.8.0", "ip": "10.0.0.1"}
        if protocol == "jaeger_grpc":

            def kv(k, v):
                if isinstance(v, bool):
                    return model_pb2.KeyValue(key=k, v_type=model_pb2.BOOL, v_bool=v)
                if isinstance(v, int):
                    return model_pb2.KeyValue(key=k, v_type=model_pb2.INT64, v_int64=v)
                if isinstance(v, float):
                    return model_pb2.KeyValue(key=k, v_type=model_pb2.FLOAT64, v_float64=v)
                return model_pb2.KeyValue(key=k, v_type=model_pb2.STRING, v_str=v)

            batch = model_pb2.Batch(
                process=model_pb2.Process(service_name=service, tags=[kv(k, v) for k, v in process_tags.items()])
            )
            for high, low, sid, parent, name, start, dur, tags in spans:
                tid = high.to_bytes(8, "big") + low.to_bytes(8, "big")
                s = batch.spans.add(
                    trace_id=tid,
                    span_id=sid.to_bytes(8, "big"),
                    operation_name=name,
                    flags=1,
                    tags=[kv(k, v) for k, v in tags.items()],
                )
                if parent:
                    s.references.add(trace_id=tid, span_id=parent.to_bytes(8, "big"))
                s.start_time.FromMicroseconds(start)
                s.duration.FromMicroseconds(dur)
            payloads.append(collector_pb2.PostSpansRequest(batch=batch).SerializeToString())
            continue

        def tag(k, v):
            if isinstance(v, bool):
                return jt.Tag(key=k, vType=jt.TagType.BOOL, vBool=v)
            if isinstance(v, int):
                return jt.Tag(key=k, vType=jt.TagType.LONG, vLong=v)
            if isinstance(v, float):
                return jt.Tag(key=k, vType=jt.TagType.DOUBLE, vDouble=v)
            return jt.Tag(key=k, vType=jt.TagType.STRING, vStr=v)

        batch = jt.Batch(
            process=jt.Process(serviceName=service, tags=[tag(k, v) for k, v in process_tags.items()]),
            spans=[
                jt.Span(
                    traceIdHigh=high,
                    traceIdLow=low,
                    spanId=sid,
                    parentSpanId=parent,
                    operationName=name,
                    flags=1,
                    startTime=start,
                    duration=dur,
                    tags=[tag(k, v) for k, v in tags.items()],
                )
                for high, low, sid, parent, name, start, dur, tags in spans
            ],
        )
        buf = TMemoryBuffer()
        if protocol == "jaeger_thrift_http":
            batch.write(TBinaryProtocol(buf))
        else:
            proto = TCompactProtocol(buf) if protocol == "jaeger_thrift_compact" else TBinaryProtocol(buf)
            proto.write_message_begin("emitBatch", TMessageType.ONEWAY, 1)
            agent_thrift.Agent.emitBatch_args(batch=batch).write(proto)
            proto.write_message_end()
        payloads.append(buf.getvalue())
    return payloads


def _zipkin_oc_payloads(
    protocol: str, rng: random.Random, spans_per_request: int, pool: int, now_us: int
) -> list[bytes]:
    """The same spans as Zipkin v2 JSON / ListOfSpans protobuf bodies, or OpenCensus agent
    ExportTraceServiceRequests (no Node: OCStreamSender sends it once, first on its stream)."""
    from otel_lite.collector.legacy_proto.opencensus.agent.trace.v1 import trace_service_pb2
    from otel_lite.collector.legacy_proto.opencensus.trace.v1 import trace_pb2
    from otel_lite.collector.legacy_proto.zipkin import zipkin_pb2

    zkinds = {"server": "SERVER", "client": "CLIENT"}
    pkinds = {"server": zipkin_pb2.Span.SERVER, "client": zipkin_pb2.Span.CLIENT}
    okinds = {"server": trace_pb2.Span.SERVER, "client": trace_pb2.Span.CLIENT}

    def text(v):
        return str(v).lower() if isinstance(v, bool) else str(v)

    payloads = []
    for _ in range(pool):
        service, spans = _spans(rng, spans_per_request, now_us)
        if protocol == "zipkin_json":
            body = []
            for high, low, sid, parent, name, start, dur, tags in spans:
                tags = dict(tags)
                kind = zkinds.get(tags.pop("span.kind"))
                span = {
                    "traceId": f"{high:016x}{low:016x}",
                    "id": f"{sid:016x}",
                    "name": name,
                    "timestamp": start,
                    "duration": dur,
                    "localEndpoint": {"serviceName": service, "ipv4": "10.0.0.1"},
                    "tags": {k: text(v) for k, v in tags.items()},
                }
                if kind:
                    span["kind"] = kind
                if parent:
                    span["parentId"] = f"{parent:016x}"
                body.append(span)
            payloads.append(json.dumps(body).encode())
        elif protocol == "zipkin_proto":
            msg = zipkin_pb2.ListOfSpans()
            for high, low, sid, parent, name, start, dur, tags in spans:
                tags = dict(tags)
                kind = pkinds.get(tags.pop("span.kind"), 0)
                msg.spans.add(
                    trace_id=high.to_bytes(8, "big") + low.to_bytes(8, "big"),
                    id=sid.to_bytes(8, "big"),
                    parent_id=parent.to_bytes(8, "big") if parent else b"",
                    kind=kind,
                    name=name,
                    timestamp=start,
                    duration=dur,
                    local_endpoint=zipkin_pb2.Endpoint(service_name=service, ipv4=bytes([10, 0, 0, 1])),
                    tags={k: text(v) for k, v in tags.items()},
                )
            payloads.append(msg.SerializeToString())
        else:
            msg = trace_service_pb2.ExportTraceServiceRequest()
            for high, low, sid, parent, name, start, dur, tags in spans:
                tags = dict(tags)
                kind = okinds.get(tags.pop("span.kind"), 0)
                span = msg.spans.add(
                    trace_id=high.to_bytes(8, "big") + low.to_bytes(8, "big"),
                    span_id=sid.to_bytes(8, "big"),
                    kind=kind,
                    parent_span_id=parent.to_bytes(8, "big") if parent else b"",
                )
                span.name.value = name
                span.start_time.FromMicroseconds(start)
                span.end_time.FromMicroseconds(start + dur)
                for k, v in tags.items():
                    value = span.attributes.attribute_map[k]
                    if isinstance(v, bool):
                        value.bool_value = v
                    elif isinstance(v, int):
                        value.int_value = v
                    elif isinstance(v, float):
                        value.double_value = v
                    else:
                        value.string_value.value = v
                if tags.get("error"):
                    span.status.code, span.status.message = 2, "error"
            payloads.append(msg.SerializeToString())
    return payloads


class OCStreamSender:
    """One long-lived OpenCensus Export stream (as the agent exporters keep): the Node goes
    once, first; the service answers nothing, so a message counts as acked once written."""

    def __init__(self, endpoint: str):
        import queue
        import threading

        import grpc

        sys.path.insert(0, str(REPO))
        from otel_lite.collector.legacy_proto.opencensus.agent.common.v1 import common_pb2
        from otel_lite.collector.legacy_proto.opencensus.agent.trace.v1 import trace_service_pb2

        node = common_pb2.Node(
            service_info=common_pb2.ServiceInfo(name="checkout"),
            identifier=common_pb2.ProcessIdentifier(host_name="node-01", pid=1),
            library_info=common_pb2.LibraryInfo(language=common_pb2.LibraryInfo.PYTHON),
        )
        self.queue: queue.Queue = queue.Queue()
        self.queue.put(trace_service_pb2.ExportTraceServiceRequest(node=node).SerializeToString())
        self.channel = grpc.insecure_channel(endpoint)
        call = self.channel.stream_stream(OC_EXPORT)  # raw bytes
        self.failed = False

        def requests():
            while (item := self.queue.get()) is not None:
                yield item

        def consume():
            try:
                for _ in call(requests(), timeout=3600):
                    pass
            except grpc.RpcError:
                self.failed = True

        self.thread = threading.Thread(target=consume, daemon=True)
        self.thread.start()

    def send(self, data: bytes, done) -> None:
        self.queue.put(data)
        done(not self.failed)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(30)
        self.channel.close()


# -- senders: UDP fire-and-forget; TCP ones keep many requests in flight, because a receiver answers
# only once the pipeline took the data (the batch processor may hold it up to its timeout)


class UDPSender:
    def __init__(self, endpoint: str):
        host, port = endpoint.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    def send(self, data: bytes, done) -> None:
        self.sock.sendto(data, self.addr)
        done(True)

    def close(self) -> None:
        self.sock.close()


class GRPCSender:
    def __init__(self, endpoint: str):
        import grpc

        self.channel = grpc.insecure_channel(endpoint)
        self.call = self.channel.unary_unary(POST_SPANS)  # raw bytes

    def send(self, data: bytes, done) -> None:
        self.call.future(data, timeout=10).add_done_callback(lambda f: done(f.exception() is None))

    def close(self) -> None:
        self.channel.close()


class HTTPSender:
    def __init__(
        self, endpoint: str, workers: int = 64, path: str = "/api/traces", content_type: str = "application/x-thrift"
    ):
        self.path, self.content_type = path, content_type
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.host, port = endpoint.rsplit(":", 1)
        self.port = int(port)
        self.local = threading.local()  # one keep-alive connection per worker thread
        self.pool = ThreadPoolExecutor(workers)

    def _post(self, data: bytes) -> bool:
        import http.client

        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("POST", self.path, data, {"Content-Type": self.content_type})
            resp = conn.getresponse()
            resp.read()
            return resp.status == 202
        except OSError:
            conn.close()
            self.local.conn = None
            return False

    def send(self, data: bytes, done) -> None:
        self.pool.submit(self._post, data).add_done_callback(lambda f: done(f.exception() is None and f.result()))

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def run(
    protocol: str,
    endpoint: str,
    rate: float,
    duration: float,
    spans_per_request: int,
    pool: int,
    wait_for_go: bool = False,
) -> dict:
    import threading

    payloads = build_payloads(protocol, spans_per_request, pool)
    kind = PROTOCOLS[protocol][2]
    if wait_for_go:  # payloads are built: the measured window must only see sending
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
    if protocol in ("zipkin_json", "zipkin_proto"):
        sender = HTTPSender(
            endpoint,
            path="/api/v2/spans",
            content_type="application/json" if protocol == "zipkin_json" else "application/x-protobuf",
        )
    elif protocol == "opencensus":
        sender = OCStreamSender(endpoint)
    else:
        sender = (
            UDPSender(endpoint)
            if kind == "udp"
            else (GRPCSender(endpoint) if protocol == "jaeger_grpc" else HTTPSender(endpoint))
        )
    interval = spans_per_request / rate
    counts = {"acked": 0, "errors": 0, "done": 0}
    lock = threading.Lock()

    def done(ok: bool) -> None:
        with lock:
            counts["done"] += 1
            counts["acked" if ok else "errors"] += 1

    sent = 0
    t0 = time.perf_counter()
    next_at = t0
    cpu0 = time.process_time()
    try:
        while time.perf_counter() - t0 < duration:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            sender.send(payloads[sent % len(payloads)], done)
            sent += 1
            next_at += interval
        wall = time.perf_counter() - t0
        deadline = time.monotonic() + 15
        while counts["done"] < sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sender.close()
    return {
        "sent_spans": sent * spans_per_request,
        "acked_spans": counts["acked"] * spans_per_request,
        "errors": counts["errors"] + (sent - counts["done"]),
        "achieved_spans_per_s": sent * spans_per_request / wall,
        "request_bytes": sum(map(len, payloads)) // len(payloads),
        "loadgen_cpu_pct": round(100 * (time.process_time() - cpu0) / wall, 1),
    }


# -- our collector with a legacy receiver ---------------------------------------------


def collector_config(protocol: str, port: int, sink_endpoint: str, metrics_port: int) -> str:
    rtype, key, _ = PROTOCOLS[protocol]
    config = {
        "receivers": {rtype: {"protocols": {key: {"endpoint": f"127.0.0.1:{port}"}}}}
        if key
        else {rtype: {"endpoint": f"127.0.0.1:{port}"}},
        "processors": {"batch": {}},
        "exporters": {"otlp_grpc": {"endpoint": sink_endpoint, "tls": {"insecure": True}, "compression": "none"}},
        "service": {
            "telemetry": {"metrics": {"address": f"127.0.0.1:{metrics_port}"}},
            "pipelines": {"traces": {"receivers": [rtype], "processors": ["batch"], "exporters": ["otlp_grpc"]}},
        },
    }
    return json.dumps(config, indent=2)


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def _free_udp_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def start_ours_legacy(protocol: str):
    """Our collector with the protocol's receiver -> batch -> otlp_grpc -> counting sink (a ``Running``)."""
    import collector_targets as targets

    kind = PROTOCOLS[protocol][2]
    tmp = Path(tempfile.mkdtemp(prefix="otel-lite-bench-legacy-"))
    sink = targets.SinkProcess("grpc-count")
    port = _free_udp_port() if kind == "udp" else targets.free_port()
    metrics_port = targets.free_port()
    cfg = tmp / "collector.yaml"
    cfg.write_text(collector_config(protocol, port, sink.grpc_endpoint, metrics_port))
    log = tmp / "collector.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*targets.collector_command(), "--config", str(cfg)],
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def cleanup():
        targets.stop_process(proc)
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        if kind == "udp":
            deadline = time.monotonic() + targets.START_TIMEOUT
            while not _udp_bound(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise targets.Unavailable(f"our collector ({protocol}) did not start:\n{targets.log_tail(log)}")
                time.sleep(0.05)
        else:
            targets._wait_listening(proc, port, log, f"our collector ({protocol})")
    except BaseException:
        cleanup()
        raise
    return targets.Running(
        f"ours-{protocol}",
        proc.pid,
        f"127.0.0.1:{port}",
        None,
        counter=sink,
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        _stop=[cleanup],
    )


class LegacyLoad:
    """Drop-in for ``collector_targets.LoadGen`` in ``collector_bench.run_step`` (fixed rates only)."""

    def __init__(self, protocol: str, endpoint: str, spans_per_request: int):
        self.protocol, self.endpoint, self.spans_per_request = protocol, endpoint, spans_per_request
        self.proc = None

    def start(self, rate: float | None, duration: float, max_inflight: int | None = None) -> None:
        if rate is None:
            raise RuntimeError("legacy load runs at fixed rates only")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--protocol",
                self.protocol,
                "--endpoint",
                self.endpoint,
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--spans-per-request",
                str(self.spans_per_request),
                "--wait-for-go",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"legacy load generator exited (rc={self.proc.wait()})")
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self._duration = duration

    def result(self) -> dict:
        out = self.proc.stdout.read()
        self.proc.wait(self._duration + 60)
        res = json.loads(out.strip().splitlines()[-1])
        res["errors"] = {"send": res["errors"]} if res["errors"] else {}
        wall = self._duration
        res["acked_spans_per_s"] = res["acked_spans"] / wall
        res.setdefault("latency_ms_p50", "n/a")
        res.setdefault("latency_ms_p99", "n/a")
        return res

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), required=True)
    p.add_argument("--endpoint", required=True, help="host:port")
    p.add_argument("--rate", type=float, default=10_000, help="spans/s")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--spans-per-request", type=int, default=100)
    p.add_argument("--pool-size", type=int, default=32)
    p.add_argument("--wait-for-go", action="store_true", help="print ready, start on a line on stdin")
    args = p.parse_args(argv)
    print(
        json.dumps(
            run(
                args.protocol,
                args.endpoint,
                args.rate,
                args.duration,
                args.spans_per_request,
                args.pool_size,
                args.wait_for_go,
            )
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
