"""The running collector: telemetry, the pipeline graph, signals, logs."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import threading
from typing import Any

from .config_validation import CollectorConfig, split_endpoint
from .own_logs import setup_logging
from .pipeline import Graph, Host
from .process_metrics import register_process_metrics
from .telemetry import ResourceExposition, Telemetry, collector_resource

__all__ = ["Collector", "setup_logging"]

log = logging.getLogger("otel_lite.collector")


class Collector:
    """One collector instance: build with a validated config, then
    ``await start()`` / ``await shutdown()`` or ``await run_until_signal()``."""

    def __init__(self, config: CollectorConfig, telemetry: Telemetry | None = None):
        self.config = config
        self.telemetry = telemetry or Telemetry()
        self.host = Host()
        self.graph = Graph(config, self.telemetry, self.host)
        if config.service.telemetry.metrics.level != "none":  # as Go: with the collector's other metrics
            register_process_metrics(self.telemetry.registry)
        self.metrics_port: int | None = None
        self._metrics_server: Any = None
        self._metrics_thread: threading.Thread | None = None
        self._stop = asyncio.Event()
        self._running = False

    @property
    def ready(self) -> bool:
        return self.host.ready

    async def start(self) -> None:
        metrics = self.config.service.telemetry.metrics
        if metrics.level != "none":
            self._start_metrics_server(metrics.address)
        try:
            await self.graph.start()
        except BaseException:
            self._stop_metrics_server()
            raise
        self._running = True
        self.host.ready = True
        log.info("collector started", extra={"pipelines": ",".join(self.config.service.pipelines)})

    async def shutdown(self) -> None:
        """Graceful stop: not ready at once, then (after any ``health_check`` ``shutdown_delay``)
        receivers first, then processors flush, exporters drain.  Safe twice."""
        self.host.ready = False  # the health check answers 503 from here on
        was_running, self._running = self._running, False
        if was_running:
            delay = self.shutdown_delay()
            if delay > 0:
                # readiness drops first: senders and probes see 503 while the receivers still accept
                log.info(
                    "health check not ready; receivers keep accepting until the shutdown delay ends",
                    extra={"shutdown_delay": f"{delay:g}s"},
                )
                await asyncio.sleep(delay)
            log.info("collector shutting down")
        await self.graph.shutdown()
        await asyncio.to_thread(self._stop_metrics_server)

    def shutdown_delay(self) -> float:
        """The longest ``shutdown_delay`` of the running extensions (``health_check``'s), in seconds."""
        return max(
            (float(getattr(ext, "shutdown_delay", 0.0) or 0.0) for ext in self.host.extensions.values()), default=0.0
        )

    def request_stop(self) -> None:
        """Make ``run_until_signal`` return (call on the collector's loop)."""
        self._stop.set()

    async def run_until_signal(self) -> None:
        """Run until SIGTERM/SIGINT (or ``request_stop``), then shut down.  A second
        signal during shutdown exits immediately."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)

        def on_signal(sig):
            if self._stop.is_set():
                log.warning("second signal %s: exiting without completing shutdown", sig.name)
                os._exit(1)
            log.info("received %s", sig.name)
            self._stop.set()

        installed = []
        for sig in signals:
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()
            for sig in installed:
                loop.remove_signal_handler(sig)
            log.info("collector stopped")

    # -- Prometheus /metrics ------------------------------------------------
    def _start_metrics_server(self, address: str) -> None:
        from prometheus_client import start_http_server

        key = "service.telemetry.metrics.address"
        host, port = split_endpoint(address, key)
        try:
            configured = self.config.service.telemetry.resource
            exposition = ResourceExposition(
                self.telemetry.registry,
                collector_resource(configured),
                {k: v for k, v in configured.items() if v is not None},
            )
            server, thread = start_http_server(port, addr=host, registry=exposition.registry())
        except OSError as e:
            # the receivers' wording ("...: Address already in use"), naming the setting
            reason = e.strerror or str(e)
            if e.errno == errno.EADDRINUSE:
                reason += f" (another collector running? set {key} or level: none)"
            raise OSError(f"{key} {address}: {reason}") from None
        self._metrics_server, self._metrics_thread = server, thread
        self.metrics_port = server.server_address[1]

    def _stop_metrics_server(self) -> None:
        server, self._metrics_server = self._metrics_server, None
        if server is not None:
            server.shutdown()
            server.server_close()
