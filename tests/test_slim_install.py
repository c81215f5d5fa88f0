"""``pip install otel-lite`` is the SDK alone: the collector's stack is the
``collector`` extra, and the collector command says what to install when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import requires

from otel_lite.collector.entrypoint import COLLECTOR_MODULES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a Python that cannot import the collector extra's modules, as on a slim install
_BLOCK = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, _Block())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    prelude = _BLOCK.format(blocked=set(COLLECTOR_MODULES) | {"thrift"})
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=REPO, capture_output=True, text=True, timeout=60)


def _base_requirements() -> set[str]:
    names = set()
    for req in requires("otel-lite") or ():
        if "extra ==" in req:
            continue
        names.add(req.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower())
    return names


def test_the_sdk_install_pulls_in_nothing_of_the_collector():
    base = _base_requirements()
    assert base, "otel-lite's metadata lists no requirements"
    collector_only = {
        "fastapi",
        "uvicorn",
        "pyyaml",
        "prometheus-client",
        "zstandard",
        "psutil",
        "httpx",
        "thriftpy2",
        "thrift",
        "pydantic",
    }
    assert not base & collector_only, base & collector_only


def test_the_sdk_traces_and_exports_without_the_collector_dependencies():
    result = _run("""
import otel_lite
from opentelemetry import trace
provider = otel_lite.configure(service_name="slim", endpoint="http://127.0.0.1:9", timeout=0.2)
with trace.get_tracer("t").start_as_current_span("work"):
    pass
provider.shutdown()
assert provider.stats()["spans_ended"] == 1, provider.stats()
print("ok")
""")
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_the_collector_command_says_what_to_install():
    result = _run("import sys\nfrom collector.entrypoint import main\nsys.exit(main(['--help']))")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "pip install 'otel-lite[collector]'" in result.stderr
