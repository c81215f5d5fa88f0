"""configure() when a global TracerProvider is already set: the API refuses a second one, so configure()
warns (once) and returns the provider really in effect, never a provider that receives nothing.

Each case runs in a fresh interpreter: the API sets its global provider once per process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "none"},
    )
    assert result.returncode == 0, result.stderr
    return result


def test_second_configure_returns_the_first_provider_which_gets_the_spans():
    result = _run("""
        import threading
        import otel_lite
        from opentelemetry import trace

        first_exporter = otel_lite.InMemorySpanExporter()
        first = otel_lite.configure(service_name="first", exporter=first_exporter, schedule_delay_millis=10)
        workers = sum(t.name == "otel_lite.BatchSpanProcessor" for t in threading.enumerate())
        second_exporter = otel_lite.InMemorySpanExporter()
        second = otel_lite.configure(service_name="second", exporter=second_exporter)
        third = otel_lite.configure(service_name="third")
        assert second is first and third is first and trace.get_tracer_provider() is first
        # the refused configurations started no export worker
        assert sum(t.name == "otel_lite.BatchSpanProcessor" for t in threading.enumerate()) == workers
        trace.get_tracer("t").start_span("s").end()
        assert second.force_flush(5000)
        assert [s.name for s in first_exporter.get_finished_spans()] == ["s"]
        assert first_exporter.get_finished_spans()[0].resource.attributes["service.name"] == "first"
        assert not second_exporter.get_finished_spans()
        print("ok")
    """)
    assert result.stdout.strip() == "ok"
    warnings = [line for line in result.stderr.splitlines() if "otel_lite.configure()" in line]
    assert len(warnings) == 1, result.stderr  # once, not per call
    assert "already an otel_lite TracerProvider" in warnings[0]


def test_configure_after_another_sdk_returns_that_provider():
    result = _run("""
        import otel_lite
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

        sdk_provider = SdkTracerProvider()
        trace.set_tracer_provider(sdk_provider)
        assert otel_lite.configure(service_name="late") is sdk_provider
        print("ok")
    """)
    assert result.stdout.strip() == "ok"
    assert "opentelemetry.sdk.trace.TracerProvider (not otel_lite)" in result.stderr


def test_configure_without_set_global_still_returns_its_own_provider():
    _run("""
        import otel_lite
        from opentelemetry import trace

        first = otel_lite.configure()
        own = otel_lite.configure(set_global=False)
        assert own is not first and isinstance(own, otel_lite.TracerProvider)
        assert trace.get_tracer_provider() is first
    """)
