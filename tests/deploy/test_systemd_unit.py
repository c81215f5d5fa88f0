"""deploy/systemd/otel-lite-collector.service passes `systemd-analyze verify` (with its /opt/otel-lite
command pointed at this environment's otel-lite-collector, which verify requires to exist)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.collector_process import REPO

UNIT = f"{REPO}/deploy/systemd/otel-lite-collector.service"


def test_unit_verifies(tmp_path):
    analyze, command = shutil.which("systemd-analyze"), shutil.which("otel-lite-collector")
    if analyze is None or command is None:
        pytest.skip("systemd-analyze (Debian systemd) or otel-lite-collector not installed")
    with open(UNIT) as f:
        text = f.read()
    for key in ("ProtectSystem=strict", "StateDirectory=otel-lite", "NoNewPrivileges=yes", "DynamicUser=yes"):
        assert key in text
    assert "\nExecReload=" not in text  # the collector does not reload on SIGHUP
    copy = tmp_path / "otel-lite-collector.service"
    copy.write_text(text.replace("/opt/otel-lite/bin/otel-lite-collector", command))
    result = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
