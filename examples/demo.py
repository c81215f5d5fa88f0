"""The quickstart: run the collector with its embedded default config and send it spans.

    python examples/demo.py            # collector + demo spans, then keeps the collector running (Ctrl-C stops)
    python examples/demo.py --exit     # stop the collector once the demo spans have arrived

The collector listens on 127.0.0.1:4317 (OTLP/gRPC) and 127.0.0.1:4318 (OTLP/HTTP) and writes
what it receives as OTLP JSON lines to ./otel-lite-traces.jsonl, with a one-line summary per batch.
The demo sends spans with otel_lite over both protocols.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

OUTPUT = "otel-lite-traces.jsonl"


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the collector did not open port {port} within {timeout:.0f}s")


def send_demo_spans(protocol: str, endpoint: str, count: int) -> None:
    import otel_lite

    provider = otel_lite.configure(
        service_name=f"demo-{protocol.replace('/', '-')}",
        protocol=protocol,
        endpoint=endpoint,
        set_global=False,
        schedule_delay_millis=200,
    )
    tracer = provider.get_tracer("examples.demo")
    for i in range(count):
        with (
            tracer.start_as_current_span("GET /cart", attributes={"http.route": "/cart", "demo.request": i}),
            tracer.start_as_current_span("SELECT cart_items", attributes={"db.system": "sqlite"}) as db,
        ):
            db.add_event("rows fetched", {"rows": i % 7})
    provider.force_flush(10_000)
    provider.shutdown()


def count_spans(path: str) -> int:
    total = 0
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            request = json.loads(line)
            for rs in request.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    total += len(ss.get("spans", []))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exit", action="store_true", help="stop the collector after the demo")
    parser.add_argument("--spans", type=int, default=50, help="requests to simulate per protocol (2 spans each)")
    parser.add_argument(
        "--ports",
        type=int,
        nargs=4,
        metavar=("GRPC", "HTTP", "HEALTH", "METRICS"),
        default=(4317, 4318, 13133, 8888),
        help="ports for the collector (default: the standard ones)",
    )
    args = parser.parse_args()
    grpc_port, http_port, health_port, metrics_port = args.ports

    before = count_spans(OUTPUT)
    command = [sys.executable, "-m", "otel_lite.collector"]
    if tuple(args.ports) != (4317, 4318, 13133, 8888):
        command += [
            "--set",
            f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{grpc_port}",
            "--set",
            f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{http_port}",
            "--set",
            f"extensions.health_check.endpoint=127.0.0.1:{health_port}",
            "--set",
            f"service.telemetry.metrics.address=127.0.0.1:{metrics_port}",
        ]
    collector = subprocess.Popen(command)
    try:
        wait_for_port(grpc_port)
        wait_for_port(http_port)
        send_demo_spans("grpc", f"http://127.0.0.1:{grpc_port}", args.spans)
        send_demo_spans("http/protobuf", f"http://127.0.0.1:{http_port}", args.spans)
        expected = before + 4 * args.spans
        deadline = time.monotonic() + 15
        while count_spans(OUTPUT) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        received = count_spans(OUTPUT) - before
        print(f"demo: sent {4 * args.spans} spans, the collector wrote {received} to {OUTPUT}", flush=True)
        if received < 4 * args.spans:
            return 1
        if args.exit:
            return 0
        print(f"demo: the collector keeps running on 127.0.0.1:{grpc_port}/{http_port}; Ctrl-C stops it", flush=True)
        collector.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if collector.poll() is None:
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(15)
            except subprocess.TimeoutExpired:
                collector.kill()


if __name__ == "__main__":
    sys.exit(main())
