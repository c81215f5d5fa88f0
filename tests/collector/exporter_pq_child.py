"""Child process for the crash test: enqueues batches into an OTLP/gRPC
exporter's persistent queue while the backend is down, prints ``ACK <i>``
after each acknowledged batch, then waits to be killed.

usage: python -m tests.collector.exporter_pq_child <storage dir> <endpoint> <batches> <spans per batch>
"""

from __future__ import annotations

import asyncio
import sys

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.exporters import otlp_grpc
from otel_lite.collector.extensions import file_storage
from otel_lite.collector.pipeline import Host
from otel_lite.collector.telemetry import Telemetry

from .exporter_util import make_traces

STORAGE_ID = ComponentID("file_storage")
EXPORTER_ID = ComponentID("otlp_grpc", "backend")


def exporter_config(endpoint: str) -> dict:
    return {
        "endpoint": endpoint,
        "tls": {"insecure": True},
        "timeout": "2s",
        "retry_on_failure": {"initial_interval": "20ms", "max_interval": "100ms", "max_elapsed_time": "0"},
        "sending_queue": {"storage": "file_storage", "num_consumers": 2, "queue_size": 10000},
    }


async def build(directory: str, endpoint: str, telemetry: Telemetry):
    host = Host()
    fs_cfg = file_storage.FACTORY.config_class.from_mapping({"directory": directory, "fsync": True})
    fs = file_storage.FACTORY.create(CreateSettings(STORAGE_ID, "extension", telemetry), fs_cfg, None)
    await fs.start(host)
    host.extensions[STORAGE_ID] = fs
    cfg = otlp_grpc.FACTORY.config_class.from_mapping(exporter_config(endpoint))
    exp = otlp_grpc.FACTORY.create(CreateSettings(EXPORTER_ID, "exporter", telemetry, host=host), cfg, None)
    await exp.start(host)
    return exp, fs


async def main(directory: str, endpoint: str, batches: int, spans: int) -> None:
    exp, _ = await build(directory, endpoint, Telemetry())
    for i in range(batches):
        await exp.consume(make_traces(spans, i))
        print(f"ACK {i}", flush=True)
    print("DONE", flush=True)
    await asyncio.sleep(3600)  # killed by the test


if __name__ == "__main__":
    d, ep, b, s = sys.argv[1:5]
    asyncio.run(main(d, ep, int(b), int(s)))
