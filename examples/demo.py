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
import re
import signal
import subprocess
import sys
import threading
import time

OUTPUT = "otel-lite-traces.jsonl"


class CollectorLog:
    """Copies the collector's log (its stderr) to ours and watches it: started, or why it failed."""

    def __init__(self, collector: subprocess.Popen):
        self.collector = collector
        self.started = threading.Event()
        self.failure = ""
        self._thread = threading.Thread(target=self._copy, name="collector log", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        assert self.collector.stderr is not None
        for line in self.collector.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            if "collector started" in line:
                self.started.set()
            elif "failed to start" in line:
                match = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
                failure = json.loads(f'"{match.group(1)}"') if match else line.strip()
                self.failure = failure.removeprefix("collector failed to start: ")

    def wait_started(self, timeout: float = 30.0) -> None:
        """Return once the collector says it started; exit the demo saying why when it does not."""
        deadline = time.monotonic() + timeout
        while not self.started.wait(0.1):
            code = self.collector.poll()
            if code is not None:
                self._thread.join(5)  # its last lines
                reason = self.failure or "see its log above"
                raise SystemExit(f"demo: the collector exited with code {code} before it started: {reason}")
            if time.monotonic() > deadline:
                raise SystemExit(f"demo: the collector did not start within {timeout:.0f}s (its log is above)")


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
    # its log goes through us: the demo then knows that this collector (not another one holding
    # the ports) is up, or what made it fail (a port in use names its setting and address)
    collector = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        CollectorLog(collector).wait_started()
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
