"""An exporter on the real helper chain (queue / batcher / retry / timeout) whose ``push`` the
test scripts: ``build`` makes one with its own ``Telemetry``; ``sent`` / ``failed`` read its
span counters; ``wait_until`` polls a condition on the event loop."""

from __future__ import annotations

import asyncio
import time

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.consumer import Traces
from otel_lite.collector.exporters.helper import Exporter, ExporterConfig
from otel_lite.collector.telemetry import Telemetry
from tests.collector.exporter_util import metric


class ScriptedExporter(Exporter):
    """Records what it is asked to send; ``script`` holds errors to raise (None = succeed);
    ``gate`` (when set) is awaited before every attempt."""

    def __init__(self, settings, config, script=(), gate: asyncio.Event | None = None):
        super().__init__(settings, config)
        self.script = list(script)
        self.gate = gate
        self.attempts: list[float] = []
        self.delivered: list[Traces] = []

    async def push(self, traces):
        self.attempts.append(time.monotonic())
        if self.gate is not None:
            await self.gate.wait()
        if self.script:
            err = self.script.pop(0)
            if err is not None:
                raise err
        self.delivered.append(traces)


def build(cfg: dict | None = None, script=(), gate=None):
    cfg = ExporterConfig.from_mapping(cfg or {})
    tel = Telemetry()
    exp = ScriptedExporter(CreateSettings(ComponentID("scripted"), "exporter", tel), cfg, script, gate)
    return exp, tel


def sent(tel):
    return metric(tel, "otelcol_exporter_sent_spans_total", exporter="scripted")


def failed(tel, permanent: bool):
    return metric(
        tel,
        "otelcol_exporter_send_failed_spans_total",
        exporter="scripted",
        error_permanent="true" if permanent else "false",
    )


async def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
