"""The shared OTLP protocol code loads neither the SDK's machinery nor the collector's,
and the collector's OTLP components do not load the SDK (each import in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what otel_lite may load for the collector: the package's lazy __init__, its version, the protocol code
ALLOWED_OTEL_LITE = {"otel_lite", "otel_lite.version"}


def modules_after(code: str) -> set[str]:
    """The modules in sys.modules after running ``code`` in a new interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def sdk_modules(modules: set[str]) -> set[str]:
    return {
        m
        for m in modules
        if (m == "otel_lite" or m.startswith("otel_lite."))
        and m not in ALLOWED_OTEL_LITE
        and not m.startswith(("otel_lite.otlp", "otel_lite.collector", "otel_lite.shims"))
    }


USE_EVERYTHING = """
import otel_lite.otlp as otlp
from otel_lite.otlp import wire
request = otlp.json_to_request(b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "%s", "spanId": "%s"}]}]}]}'
                               % (b"ab" * 16, b"cd" * 8))
assert otlp.json_to_request(otlp.request_to_json(request)) == request
assert otlp.parse_partial_success(b'{"partialSuccess": {"rejectedSpans": 1}}', "application/json").rejected_spans == 1
status = otlp.rpc_status("RESOURCE_EXHAUSTED", "slow", 2)
assert otlp.grpc_retry_delay(((otlp.STATUS_DETAILS_TRAILER, status.SerializeToString()),)) == 2
assert otlp.error_message(status.SerializeToString(), "application/x-protobuf") == "slow"
assert otlp.parse_retry_after("Fri, 01 Mar 2024 12:00:30 GMT", now=0) > 0
assert wire.len_field(b"\\x0a", b"x") == b"\\x0a\\x01x"
"""


@pytest.mark.parametrize("code", ["import otel_lite.otlp", USE_EVERYTHING], ids=["import", "use"])
def test_the_protocol_package_loads_no_sdk_and_no_collector(code):
    modules = modules_after(code)
    assert "otel_lite.otlp" in modules
    assert not sdk_modules(modules), sdk_modules(modules)
    for name in ("otel_lite.provider", "otel_lite.span", "otel_lite.processors", "otel_lite.export"):
        assert name not in modules
    assert not {m for m in modules if m.startswith("otel_lite.collector")}
    assert "grpc" not in modules  # the gRPC runtime is the transports' business


def test_importing_otel_lite_alone_stays_cheap_and_its_names_still_load():
    assert not sdk_modules(modules_after("import otel_lite"))
    modules = modules_after("import otel_lite\nassert otel_lite.TracerProvider.__name__ == 'TracerProvider'")
    assert "otel_lite.provider" in modules
    modules = modules_after("from otel_lite import *\nassert BatchSpanProcessor and configure and Decision")
    assert {"otel_lite.processors", "otel_lite._configure", "otel_lite.sampling"} <= modules


def test_otel_lite_names_and_errors():
    import otel_lite

    for name in otel_lite.__all__:
        assert getattr(otel_lite, name) is not None, name
    assert set(otel_lite.__all__) <= set(dir(otel_lite))
    assert otel_lite.otlp_exporter and otel_lite.set_propagators
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        otel_lite.nope  # noqa: B018


COLLECTOR_OTLP = [
    "otel_lite.collector." + name
    for name in (
        "exporters.otlp_grpc",
        "exporters.otlp_http",
        "exporters.file",
        "receivers.otlp",
        "receivers.zipkin",
        "receivers.jaeger",
        "receivers.opencensus",
        "processors.tail_sampling",
    )
]


@pytest.mark.parametrize("module", COLLECTOR_OTLP)
def test_the_collectors_otlp_components_load_no_sdk(module):
    modules = modules_after(f"import {module}")
    assert module in modules
    assert "otel_lite.otlp" in modules or module.endswith("opencensus")
    assert not sdk_modules(modules), sdk_modules(modules)
    assert "opentelemetry.trace" not in modules  # not even the API: the collector speaks OTLP only


def test_the_whole_collector_loads_no_sdk():
    modules = modules_after("import collector.registry, collector.service, collector.cli")
    assert not sdk_modules(modules), sdk_modules(modules)
