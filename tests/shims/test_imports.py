"""The shims need only opentelemetry-api (plus opentracing / opencensus) at import time."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shims_import_no_sdk():
    code = (
        "import sys, shims.opentracing, shims.opencensus; "
        "bad = sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'otel_lite' or m.startswith('opentelemetry.sdk')); "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
