"""Names the Go Collector removed that operators' configs still have: they load, with a warning."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

from otel_lite.collector.config import build_config, parse_yaml

LOGGING = """
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
exporters:
  logging: {loglevel: debug}
  logging/quiet: {verbosity: basic, sampling_initial: 5}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [logging, logging/quiet]}
    logs: {receivers: [otlp], exporters: [logging]}
"""


def test_the_logging_exporter_runs_as_debug_with_a_deprecation_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_lite.collector.config"):
        cfg = build_config(parse_yaml(LOGGING))
    entries = {str(cid): e for cid, e in cfg.exporters.items()}
    assert entries["logging"].factory.type == "debug"
    assert entries["logging"].config.verbosity == "detailed"  # loglevel: debug, as Go mapped it
    assert entries["logging/quiet"].config.verbosity == "basic"
    assert entries["logging/quiet"].config.sampling_initial == 5
    warnings = [r.getMessage() for r in caplog.records]
    assert any(w.startswith("exporters.logging: the logging exporter was removed") for w in warnings), warnings
    assert any("rename it to debug" in w for w in warnings)


def test_validate_prints_the_deprecation_and_succeeds(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(LOGGING)
    done = subprocess.run(
        [sys.executable, "-m", "otel_lite.collector", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # printed as validate prints errors: at the file and line of the component
    assert re.search(
        rf"^warning: {re.escape(str(path))}:\d+: exporters.logging: the logging exporter was removed from the "
        "OpenTelemetry Collector",
        done.stderr,
        re.M,
    ), done.stderr
