"""The processes a collector benchmark runs: systems under test, the sink
behind them, and the load generator driving them.

Systems under test (each started fresh, on free loopback ports):
  floor   do-nothing server on the same transport (grpcio handler that only
          returns / bare ASGI app on uvicorn answering 200)
  raw     a sink that only parses requests and counts spans
  ours    ``python -m otel_lite.collector --config FILE`` (otlp -> [sampler] -> batch ->
          otlp_grpc) in front of a counting gRPC sink
  rotel   the ``rotel-agent`` binary from the ``rotel`` PyPI package, same
          pipeline shape (otlp receiver -> batch -> otlp exporter), same sink

For the one-sequential-sender scenario, ``start_ours_config`` starts our
collector with one of ``SEQUENTIAL_CONFIGS`` (the embedded default config,
exporter-side batching in the sending queue, the same with a persistent queue,
or the batch processor pipeline above).  The SDK-sender scenario also uses
``batch-persistent`` (``SDK_CONFIGS``): otlp -> batch -> otlp_grpc with a
persistent sending queue; it and ``default`` listen on both OTLP protocols.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
START_TIMEOUT = 20.0


class Unavailable(Exception):
    """A system under test could not be started; the message says why."""


class Unsupported(Unavailable):
    """Our collector rejected the configuration (e.g. an option not implemented yet)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen | None, timeout: float = 8.0) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line from a child's stdout pipe, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from child process")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise EOFError(f"child process exited (rc={proc.poll()})")
            return line


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# -- sink / floor processes ----------------------------------------------------


class SinkProcess:
    """``benchmarks/sink.py`` in its own process."""

    def __init__(self, mode: str):
        self.mode = mode
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "sink.py"), "--mode", mode, "--port", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        try:
            msg = json.loads(read_line(self.proc, START_TIMEOUT))
            if not msg.get("ready"):
                raise Unavailable(f"sink {mode} did not start: {msg}")
        except (TimeoutError, EOFError, ValueError) as exc:
            self.stop()
            raise Unavailable(f"sink {mode} did not start: {exc}") from None

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(read_line(self.proc, 10))

    def spans(self) -> int:
        return self.stats()["spans"]

    def stop(self) -> None:
        stop_process(self.proc)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


# -- running systems under test ------------------------------------------------


@dataclass
class Running:
    """A started system under test."""

    name: str
    pid: int  # the process measured (with its children)
    grpc_endpoint: str | None
    http_endpoint: str | None
    counter: object = None  # SinkProcess counting what got through; None: acks only
    sampled: bool = False  # fewer spans reach the sink by design
    settle_time: float = 0.0  # extra time before the sink count is final
    metrics_url: str | None = None  # Prometheus endpoint of our collector
    sampler_label: str | None = None  # processor="..." whose outgoing items must all reach the sink
    _stop: list = field(default_factory=list)

    def delivered(self) -> int | None:
        return None if self.counter is None else self.counter.spans()

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        for fn in self._stop:
            try:
                fn()
            except Exception as exc:  # cleanup must go on
                print(f"  warning: cleanup of {self.name}: {exc}", file=sys.stderr)
        self._stop.clear()


def start_floor(transport: str) -> Running:
    sink = SinkProcess(f"{transport}-noop")
    return Running(
        f"floor-{transport}",
        sink.proc.pid,
        sink.grpc_endpoint if transport == "grpc" else None,
        sink.http_endpoint if transport == "http" else None,
        counter=None,
        _stop=[sink.stop],
    )


def start_raw(transport: str) -> Running:
    sink = SinkProcess(f"{transport}-count")
    return Running(
        f"raw-{transport}",
        sink.proc.pid,
        sink.grpc_endpoint if transport == "grpc" else None,
        sink.http_endpoint if transport == "http" else None,
        counter=sink,
        _stop=[sink.stop],
    )


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"{what} exited with code {proc.returncode}:\n{log_tail(log)}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise Unavailable(f"{what} did not listen on port {port} within {START_TIMEOUT:.0f}s:\n{log_tail(log)}")


# -- our collector ---------------------------------------------------------------

SAMPLERS = ("probabilistic", "tail")


def collector_config(
    transport: str, receiver_port: int, sink_endpoint: str, metrics_port: int, sampler: str | None
) -> str:
    """The YAML for otlp -> [sampler] -> batch -> otlp_grpc (keys as in the
    OpenTelemetry Collector)."""
    processors = {"batch": {}}
    chain = []
    if sampler == "probabilistic":
        processors["probabilistic_sampler"] = {"sampling_percentage": 50}
        chain.append("probabilistic_sampler")
    elif sampler == "tail":
        processors["tail_sampling"] = {
            "decision_wait": "1s",
            "policies": [{"name": "half", "type": "probabilistic", "probabilistic": {"sampling_percentage": 50}}],
        }
        chain.append("tail_sampling")
    elif sampler is not None:
        raise ValueError(f"unknown sampler {sampler!r}")
    chain.append("batch")
    config = {
        "receivers": {"otlp": {"protocols": {transport: {"endpoint": f"127.0.0.1:{receiver_port}"}}}},
        "processors": processors,
        "exporters": {"otlp_grpc": {"endpoint": sink_endpoint, "tls": {"insecure": True}, "compression": "none"}},
        "service": {
            "telemetry": {"metrics": {"address": f"127.0.0.1:{metrics_port}"}},
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": chain, "exporters": ["otlp_grpc"]}},
        },
    }
    return json.dumps(config, indent=2)  # JSON is YAML


def collector_command() -> list[str]:
    return [sys.executable, "-m", "otel_lite.collector"]


def start_ours(transport: str, sampler: str | None = None) -> Running:
    tmp = Path(tempfile.mkdtemp(prefix="otel-lite-bench-"))
    sink = SinkProcess("grpc-count")
    port, metrics_port = free_port(), free_port()
    cfg = tmp / "collector.yaml"
    cfg.write_text(collector_config(transport, port, sink.grpc_endpoint, metrics_port, sampler))
    log = tmp / "collector.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*collector_command(), "--config", str(cfg)],
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def cleanup():
        stop_process(proc)
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    name = "ours-" + transport + (f"+{sampler}" if sampler else "")
    try:
        _wait_listening(proc, port, log, "our collector")
    except BaseException:
        cleanup()
        raise
    return Running(
        name,
        proc.pid,
        f"127.0.0.1:{port}" if transport == "grpc" else None,
        f"http://127.0.0.1:{port}" if transport == "http" else None,
        counter=sink,
        sampled=sampler is not None,
        settle_time=1.5 if sampler == "tail" else 0.0,
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        sampler_label={"probabilistic": 'processor="probabilistic_sampler"', "tail": 'processor="tail_sampling"'}.get(
            sampler
        ),
        _stop=[cleanup],
    )


# -- our collector, configurations of the sequential-sender scenario ---------------

SEQUENTIAL_CONFIGS = ("default", "queue-batch", "persistent", "batch-processor")
SEQUENTIAL_CONFIG_HELP = {
    "default": "the embedded default config as shipped (otlp -> memory_limiter -> batch -> file + debug), "
    "ports and file path moved with --set",
    "queue-batch": "otlp -> (no processors) -> otlp_grpc with sending_queue: {batch: {}}",
    "persistent": "as queue-batch with sending_queue: {storage: file_storage, batch: {}}",
    "batch-processor": "otlp -> batch -> otlp_grpc (collector_config(), what operators run today)",
}


# The SDK-sender scenario's configs of ours (``default`` as above).
SDK_CONFIGS = ("default", "batch-persistent")
SDK_CONFIG_HELP = {
    "default": SEQUENTIAL_CONFIG_HELP["default"],
    "batch-persistent": "otlp (gRPC + HTTP) -> batch -> otlp_grpc with sending_queue: {storage: file_storage}",
}
OURS_CONFIGS = SEQUENTIAL_CONFIGS + tuple(c for c in SDK_CONFIGS if c not in SEQUENTIAL_CONFIGS)


def batch_persistent_config(
    grpc_port: int, http_port: int, sink_endpoint: str, metrics_port: int, storage_dir: str
) -> str:
    """otlp (both protocols) -> batch (defaults) -> otlp_grpc on a persistent
    sending queue (file_storage) -> the counting sink."""
    config = {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                    "http": {"endpoint": f"127.0.0.1:{http_port}"},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {
            "otlp_grpc": {
                "endpoint": sink_endpoint,
                "tls": {"insecure": True},
                "compression": "none",
                "sending_queue": {"storage": "file_storage"},
            }
        },
        "extensions": {"file_storage": {"directory": storage_dir}},
        "service": {
            "extensions": ["file_storage"],
            "telemetry": {"metrics": {"address": f"127.0.0.1:{metrics_port}"}},
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_grpc"]}},
        },
    }
    return json.dumps(config, indent=2)


def sequential_config(
    name: str, transport: str, receiver_port: int, sink_endpoint: str, metrics_port: int, storage_dir: str
) -> str:
    """The YAML of one of SEQUENTIAL_CONFIGS other than ``default`` (which is the embedded file)."""
    if name == "batch-processor":
        return collector_config(transport, receiver_port, sink_endpoint, metrics_port, None)
    if name not in ("queue-batch", "persistent"):
        raise ValueError(f"unknown sequential config {name!r}")
    queue: dict = {"batch": {}}  # Go's exporter-side batching, defaults (200ms / 8192 items)
    config: dict = {
        "receivers": {"otlp": {"protocols": {transport: {"endpoint": f"127.0.0.1:{receiver_port}"}}}},
        "exporters": {
            "otlp_grpc": {
                "endpoint": sink_endpoint,
                "tls": {"insecure": True},
                "compression": "none",
                "sending_queue": queue,
            }
        },
        "service": {
            "telemetry": {"metrics": {"address": f"127.0.0.1:{metrics_port}"}},
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp_grpc"]}},
        },
    }
    if name == "persistent":
        queue["storage"] = "file_storage"
        config["extensions"] = {"file_storage": {"directory": storage_dir}}
        config["service"]["extensions"] = ["file_storage"]
    return json.dumps(config, indent=2)


class FileSpanCounter:
    """Spans the ``file`` exporter (``format: json``, one OTLP JSON request per
    line) has written so far: counts ``"spanId"`` keys in complete lines, reading
    only what was appended since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._count = 0

    def spans(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return self._count
        end = data.rfind(b"\n")
        if end >= 0:
            self._count += data[: end + 1].count(b'"spanId"')  # "parentSpanId" does not match
            self._offset += end + 1
        return self._count


def _config_errors(log: Path) -> list[str]:
    """The ``error: ...`` lines our CLI prints when it rejects a configuration."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [line[len("error: ") :] for line in text.splitlines() if line.startswith("error: ")]


def start_ours_config(name: str, transport: str) -> Running:
    """Our collector with one of OURS_CONFIGS, listening on ``transport``
    (``default`` and ``batch-persistent``: on both protocols, ``transport``'s on
    the port checked at start-up).  Raises ``Unsupported`` when the collector
    rejects the configuration."""
    if name not in OURS_CONFIGS:
        raise ValueError(f"unknown config of ours {name!r}")
    tmp = Path(tempfile.mkdtemp(prefix=f"otel-lite-bench-{name}-"))
    port, other_port, metrics_port = free_port(), free_port(), free_port()
    sink = None
    if name == "default":
        # The embedded default exactly as shipped; only where it listens and writes moves.
        other = "http" if transport == "grpc" else "grpc"
        traces_file = tmp / "otel-lite-traces.jsonl"
        args = [
            "--set",
            f"receivers.otlp.protocols.{transport}.endpoint=127.0.0.1:{port}",
            "--set",
            f"receivers.otlp.protocols.{other}.endpoint=127.0.0.1:{other_port}",
            "--set",
            f"exporters.file.path={traces_file}",
            "--set",
            f"service.telemetry.metrics.address=127.0.0.1:{metrics_port}",
            "--set",
            f"extensions.health_check.endpoint=127.0.0.1:{free_port()}",
        ]
        counter = FileSpanCounter(traces_file)
        settle = 1.5  # the file exporter writes every flush_interval (1 s)
    else:
        sink = SinkProcess("grpc-count")
        cfg = tmp / "collector.yaml"
        if name == "batch-persistent":
            grpc_port, http_port = (port, other_port) if transport == "grpc" else (other_port, port)
            cfg.write_text(
                batch_persistent_config(grpc_port, http_port, sink.grpc_endpoint, metrics_port, str(tmp / "storage"))
            )
        else:
            cfg.write_text(
                sequential_config(name, transport, port, sink.grpc_endpoint, metrics_port, str(tmp / "storage"))
            )
        (tmp / "storage").mkdir()
        args = ["--config", str(cfg)]
        counter = sink
        settle = 0.0
    log = tmp / "collector.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            collector_command() + args,
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def cleanup():
        stop_process(proc)
        if sink is not None:
            sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        try:
            _wait_listening(proc, port, log, f"our collector ({name})")
            if name in SDK_CONFIGS:
                _wait_listening(proc, other_port, log, f"our collector ({name}), other protocol")
        except Unavailable:
            errors = _config_errors(log) if proc.poll() is not None else []
            if errors:
                raise Unsupported("configuration rejected: " + "; ".join(errors)) from None
            raise
    except BaseException:
        cleanup()
        raise
    both = name in SDK_CONFIGS  # these listen on both protocols
    grpc_port, http_port = (port, other_port) if transport == "grpc" else (other_port, port)
    return Running(
        f"ours-{name}-{transport}",
        proc.pid,
        f"127.0.0.1:{grpc_port}" if transport == "grpc" or both else None,
        f"http://127.0.0.1:{http_port}" if transport == "http" or both else None,
        counter=counter,
        settle_time=settle,
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        _stop=[cleanup],
    )


# Counters of spans our collector lost or refused (name prefixes; Prometheus may add _total).
LOSS_METRICS = (
    "otelcol_exporter_send_failed_spans",
    "otelcol_exporter_enqueue_failed_spans",
    "otelcol_receiver_refused_spans",
    "otelcol_processor_refused_spans",
    "otelcol_processor_dropped_spans",
)


def scrape(url: str | None) -> dict[str, float] | None:
    """Our collector's Prometheus samples as {'name{labels}': value} (names
    without the _total suffix), or None if the endpoint is not there."""
    if not url:
        return None
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read(8 << 20).decode("utf-8", "replace")
    except OSError:
        return None
    samples = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        key, _, value = line.rpartition(" ")
        name, brace, labels = key.partition("{")
        try:
            samples[name.removesuffix("_total") + brace + labels] = float(value)
        except ValueError:
            pass
    return samples


def metric_sum(samples: dict[str, float] | None, name: str, label: str = "") -> int | None:
    """Sum of the samples of ``name`` whose labels contain ``label``."""
    if samples is None:
        return None
    return int(sum(v for k, v in samples.items() if k.partition("{")[0] == name and label in k))


def losses(samples: dict[str, float] | None) -> int | None:
    if samples is None:
        return None
    return sum(metric_sum(samples, name) for name in LOSS_METRICS)


# -- rotel -----------------------------------------------------------------------


def rotel_binary() -> str | None:
    found = shutil.which("rotel-agent")
    if found:
        return found
    try:
        import rotel  # the PyPI package ships the binary inside the package
    except ImportError:
        return None
    path = Path(rotel.__file__).resolve().parent / "rotel-agent"
    return str(path) if path.exists() and os.access(path, os.X_OK) else None


def rotel_version() -> str | None:
    binary = rotel_binary()
    if not binary:
        return None
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def start_rotel(transport: str) -> Running:
    binary = rotel_binary()
    if not binary:
        raise Unavailable("rotel is not installed (pip install rotel, or pip install -e '.[bench]')")
    tmp = Path(tempfile.mkdtemp(prefix="otel-lite-bench-rotel-"))
    sink = SinkProcess("grpc-count")
    grpc_port, http_port = free_port(), free_port()
    log = tmp / "rotel.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{http_port}",
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                f"http://{sink.grpc_endpoint}",
                "--otlp-exporter-protocol",
                "grpc",
                "--otlp-exporter-compression",
                "none",
                "--pid-file",
                str(tmp / "rotel.pid"),
                "--log-file",
                str(tmp / "rotel.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def cleanup():
        stop_process(proc)
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        _wait_listening(proc, grpc_port if transport == "grpc" else http_port, log, "rotel-agent")
    except BaseException:
        cleanup()
        raise
    return Running(
        f"rotel-{transport}",
        proc.pid,
        f"127.0.0.1:{grpc_port}",
        f"http://127.0.0.1:{http_port}",
        counter=sink,
        _stop=[cleanup],
    )


# -- load generator ----------------------------------------------------------------


class LoadGen:
    """``benchmarks/loadgen.py`` in its own process, one per (target, size, gzip)."""

    def __init__(
        self,
        transport: str,
        endpoint: str,
        spans_per_request: int,
        use_gzip: bool,
        max_inflight: int = 0,
        timeout: float = 10.0,
    ):
        cmd = [
            sys.executable,
            str(HERE / "loadgen.py"),
            "--transport",
            transport,
            "--endpoint",
            endpoint,
            "--spans-per-request",
            str(spans_per_request),
            "--max-inflight",
            str(max_inflight),
            "--timeout",
            str(timeout),
        ]
        if use_gzip:
            cmd.append("--gzip")
        self.timeout = timeout
        self.spans_per_request = spans_per_request
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        try:
            self.info = json.loads(read_line(self.proc, 60))
        except (TimeoutError, EOFError, ValueError) as exc:
            self.close()
            raise RuntimeError(f"load generator did not start: {exc}") from None

    def start(
        self, rate: float | None, duration: float, max_inflight: int | None = None, endpoint: str | None = None
    ) -> None:
        """Start a step; ``endpoint`` points the generator at another target first
        (it keeps its payloads, so one generator serves many systems)."""
        cmd = {"rate": rate, "duration": duration}
        if max_inflight:
            cmd["max_inflight"] = max_inflight
        if endpoint:
            cmd["endpoint"] = endpoint
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        self._duration = duration

    def result(self) -> dict:
        res = json.loads(read_line(self.proc, self._duration + self.timeout + 30))
        if "error" in res:
            raise RuntimeError(f"load generator failed: {res['error']}")
        return res

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
