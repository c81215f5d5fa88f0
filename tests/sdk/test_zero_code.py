"""Zero-code instrumentation: ``opentelemetry-instrument python app.py`` and
``OTEL_PYTHON_TRACER_PROVIDER=otel_lite`` give otel_lite spans, exported to a real OTLP receiver.

Each application runs in its own process, as a service does: the API's global provider is set once per
process.  opentelemetry-distro is not a dependency; the test that needs it installs it (without its
dependencies, which the test extra already has) into a temporary directory on the child's PYTHONPATH,
and is skipped when the package index cannot be reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.instrumentation.auto_instrumentation")

ROOT = Path(__file__).resolve().parents[2]

# a FastAPI service (instrumented by opentelemetry-instrumentation-fastapi's entry point, no code for it)
# serving one request in-process, plus a span of its own through the API
FASTAPI_APP = """
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace

app = FastAPI()

@app.get("/items/{item_id}")
def item(item_id: int):
    with trace.get_tracer("app").start_as_current_span("load-item"):
        return {"id": item_id}

assert TestClient(app).get("/items/7").json() == {"id": 7}
print("provider:", type(trace.get_tracer_provider()).__module__)
"""

PLAIN_APP = """
from opentelemetry import trace

tracer = trace.get_tracer("plain-app")
with tracer.start_as_current_span("outer"):
    with tracer.start_as_current_span("inner"):
        pass
print("provider:", type(trace.get_tracer_provider()).__module__)
"""


def _instrument_command() -> str:
    beside = Path(sys.executable).with_name("opentelemetry-instrument")
    found = str(beside) if beside.exists() else shutil.which("opentelemetry-instrument")
    if not found:
        pytest.skip("opentelemetry-instrument is not installed")
    return found


def _run(
    tmp_path: Path,
    app: str,
    sink,
    extra_env: dict | None = None,
    instrument: bool = True,
    pythonpath: list[str] | None = None,
) -> subprocess.CompletedProcess:
    (tmp_path / "app.py").write_text(textwrap.dedent(app))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.pop("PYTHONPATH", None)
    env.update(
        {
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            # opentelemetry-distro's configurator would also set up metrics and logs: not what is tested
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env.update(extra_env or {})
    command = [sys.executable, "app.py"]
    if instrument:
        command = [_instrument_command(), *command]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    return result


def _resource_attributes(sink) -> dict:
    attributes = {}
    for request in sink.requests:
        for resource_spans in request.resource_spans:
            for kv in resource_spans.resource.attributes:
                attributes[kv.key] = kv.value.string_value or kv.value.int_value
    return attributes


def _assert_otel_lite_fastapi_spans(result, sink) -> None:
    assert "provider: otel_lite.provider" in result.stdout, result.stdout + result.stderr
    assert sink.wait_for_spans(2, timeout=10), result.stderr
    spans = {span.name: span for span in sink.spans()}
    server = spans["GET /items/{item_id}"]
    assert spans["load-item"].parent_span_id == server.span_id
    attributes = _resource_attributes(sink)
    assert attributes["telemetry.sdk.name"] == "otel-lite"
    assert attributes["service.name"] == "zero-code-app"
    assert attributes["telemetry.auto.version"]  # set by the configurator, as opentelemetry-sdk's does


def test_opentelemetry_instrument_uses_otel_lite(tmp_path, otlp_sink):
    """No opentelemetry-distro: otel_lite is the only distro and configurator installed, nothing to set."""
    try:
        import opentelemetry.distro  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("opentelemetry-distro is installed: otel_lite is not the only distro")
    result = _run(tmp_path, FASTAPI_APP, otlp_sink)
    _assert_otel_lite_fastapi_spans(result, otlp_sink)


def test_tracer_provider_entry_point_without_opentelemetry_instrument(tmp_path, otlp_sink):
    """OTEL_PYTHON_TRACER_PROVIDER=otel_lite: the API loads a provider configured from the environment
    (the exporter included) on first use; it used to end the application with StopIteration."""
    result = _run(tmp_path, PLAIN_APP, otlp_sink, {"OTEL_PYTHON_TRACER_PROVIDER": "otel_lite"}, instrument=False)
    assert "provider: otel_lite.provider" in result.stdout
    assert otlp_sink.wait_for_spans(2, timeout=10), result.stderr
    assert sorted(span.name for span in otlp_sink.spans()) == ["inner", "outer"]
    assert _resource_attributes(otlp_sink)["telemetry.sdk.name"] == "otel-lite"


def test_tracer_provider_entry_point_under_opentelemetry_instrument(tmp_path, otlp_sink):
    result = _run(
        tmp_path, PLAIN_APP, otlp_sink, {"OTEL_PYTHON_TRACER_PROVIDER": "otel_lite", "OTEL_PYTHON_DISTRO": "otel_lite"}
    )
    assert otlp_sink.wait_for_spans(2, timeout=10), result.stderr
    assert sorted(span.name for span in otlp_sink.spans()) == ["inner", "outer"]


def test_an_application_that_calls_configure_under_opentelemetry_instrument(tmp_path, otlp_sink):
    """The application's own configure() finds the configurator's provider: it warns and returns that
    one, which exports the spans."""
    app = """
    import otel_lite
    from opentelemetry import trace

    provider = otel_lite.configure(service_name="ignored")
    assert provider is trace.get_tracer_provider(), provider
    with trace.get_tracer("app").start_as_current_span("work"):
        pass
    print("provider:", type(provider).__module__)
    """
    result = _run(tmp_path, app, otlp_sink, {"OTEL_PYTHON_DISTRO": "otel_lite"})
    assert "provider: otel_lite.provider" in result.stdout
    assert "the global TracerProvider is already an otel_lite TracerProvider" in result.stderr
    assert otlp_sink.wait_for_spans(1, timeout=10)
    assert _resource_attributes(otlp_sink)["service.name"] == "zero-code-app"


def test_opentelemetry_bootstrap_still_works():
    beside = Path(sys.executable).with_name("opentelemetry-bootstrap")
    command = str(beside) if beside.exists() else shutil.which("opentelemetry-bootstrap")
    if not command:
        pytest.skip("opentelemetry-bootstrap is not installed")
    result = subprocess.run([command, "-a", "requirements"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def opentelemetry_distro(tmp_path_factory) -> str:
    """A directory holding opentelemetry-distro (its dependencies are the test extra's)."""
    import opentelemetry.instrumentation.version as instrumentation_version

    target = tmp_path_factory.mktemp("opentelemetry-distro")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            f"opentelemetry-distro=={instrumentation_version.__version__}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot install opentelemetry-distro: {result.stderr.strip()[-300:]}")
    return str(target)


@pytest.mark.parametrize("choice", ["OTEL_PYTHON_DISTRO", "OTEL_PYTHON_CONFIGURATOR"])
def test_opentelemetry_instrument_with_opentelemetry_distro_installed(
    tmp_path, otlp_sink, opentelemetry_distro, choice
):
    """With opentelemetry-distro installed too, which distro and configurator load first depends on
    where they are installed; naming otel_lite in either variable makes otel_lite configure."""
    result = _run(tmp_path, FASTAPI_APP, otlp_sink, {choice: "otel_lite"}, pythonpath=[opentelemetry_distro])
    _assert_otel_lite_fastapi_spans(result, otlp_sink)


def test_opentelemetry_distro_without_a_choice_is_opentelemetry_sdk(tmp_path, otlp_sink, opentelemetry_distro):
    """Installed ahead of otel_lite on the path and not told otherwise, opentelemetry-distro configures
    opentelemetry-sdk (what the README's zero-code section warns about)."""
    result = _run(tmp_path, FASTAPI_APP, otlp_sink, pythonpath=[opentelemetry_distro])
    assert "provider: opentelemetry.sdk.trace" in result.stdout, result.stdout + result.stderr
