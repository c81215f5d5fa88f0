"""The collector as a subprocess (``python -m otel_lite.collector``), the one harness every test
that runs the real command line uses.

- ``run_collector(*args)``: one run to its end (``validate``, ``components``, a startup that
  fails ...), its output captured.
- ``CollectorProcess``: a running collector on fixed loopback ports (a restart reuses them),
  its stdout and stderr in one log file, with its Prometheus metrics and its peak RSS
  (``VmHWM``); ``kill9`` / ``term`` / ``stop``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence

import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def run_collector(
    *args: str, env: Mapping[str, str] | None = None, cwd=None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``python -m otel_lite.collector ARGS...`` to its end; ``env`` is added to this process's."""
    return subprocess.run(
        [sys.executable, "-m", "otel_lite.collector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
    )


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


class CollectorProcess:
    """``python -m otel_lite.collector`` on fixed loopback ports, restartable.

    ``config(self)`` makes the config file's text from the free ports chosen here (``grpc_port``,
    ``http_port``, ``metrics_port``, ``health_port``: the config uses those it needs); without
    ``config`` the collector runs its embedded default.  ``args(self)`` are further arguments (``--set ...``).
    ``env`` is added to this process's environment; the collector runs in ``cwd``.  It is ready
    once its gRPC and HTTP ports accept connections, its metrics endpoint answers (unless
    ``metrics=False``: the config serves none) and its health check answers 200 (when ``health``).
    """

    # defaults for subclasses that set the attributes of __init__ themselves
    env: Mapping[str, str] | None = None
    cwd: str = REPO
    serves_metrics = True
    ready_health = False
    host = "127.0.0.1"
    extra_args: Sequence[str] = ()

    def __init__(
        self,
        config: Callable[[CollectorProcess], str] | None = None,
        workdir: str | None = None,
        *,
        args: Callable[[CollectorProcess], list[str]] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        metrics: bool = True,
        health: bool = False,
        host: str = "127.0.0.1",
        grpc_port: int | None = None,
    ):
        self.workdir = workdir or tempfile.mkdtemp(prefix="otel-lite-collector-")
        os.makedirs(self.workdir, exist_ok=True)
        self.host = host  # where the gRPC receiver listens (a tier: 127.0.0.2, .3, ... on one port)
        self.grpc_port, self.http_port, self.metrics_port = grpc_port or free_port(), free_port(), free_port()
        self.health_port = free_port()
        self.ready_health, self.serves_metrics = health, metrics
        self.env, self.cwd = env, cwd or REPO
        self.config_path: str | None = None
        if config is not None:
            self.config_path = os.path.join(self.workdir, "collector.yaml")
            with open(self.config_path, "w") as f:
                f.write(config(self))
        self.extra_args = list(args(self)) if args is not None else []
        self.log_path = os.path.join(self.workdir, "collector.log")
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.peak_rss = 0  # bytes, the highest VmHWM over every run

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def arguments(self) -> list[str]:
        """The command line after ``python -m otel_lite.collector``."""
        return (["--config", self.config_path] if self.config_path else []) + list(self.extra_args)

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {**os.environ, **self.env} if self.env else None
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            log.write(f"--- start {self.starts}\n")
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "otel_lite.collector", *self.arguments()],
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                return (
                    (
                        not self.serves_metrics
                        or requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).ok
                    )
                    and (
                        not self.ready_health
                        or requests.get(f"http://127.0.0.1:{self.health_port}/", timeout=1).status_code == 200
                    )
                    and port_open(self.grpc_port, self.host)
                    and port_open(self.http_port)
                )
            except requests.RequestException:
                return False

        if not wait_until(ready, timeout, 0.05):
            self.stop()
            raise RuntimeError(f"collector did not start:\n{self.log()[-3000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _record_peak(self) -> None:
        if not self.alive():
            return
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)
        except OSError:
            pass

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def kill9(self) -> None:
        self._record_peak()
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def term(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        self._record_peak()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        return self.proc.returncode

    def stop(self) -> None:
        """Make sure no process is left behind (for ``finally`` blocks)."""
        if self.proc is not None and self.proc.poll() is None:
            self._record_peak()
            self.proc.kill()
            self.proc.wait(30)

    def metrics(self) -> dict[str, float]:
        """Samples summed over labels, by name (``otelcol_receiver_accepted_spans_total`` ...)."""
        self._record_peak()
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = _SAMPLE.match(line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
        return out

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def log(self) -> str:
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""
