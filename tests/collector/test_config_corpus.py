"""Configs in the shapes operators bring (the Helm chart's, Go's providers, older names, connectors and a
gateway) load unchanged; configs with mistakes fail in one `validate` run with every error, each at its
file and line, with the hint the file's ``# expect:`` lines name.  Run as users run it: the command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.collector_process import run_collector

CONFIGS = Path(__file__).parent / "configs"
GOOD = sorted(p for p in (CONFIGS / "good").glob("*.yaml") if p.name != "grpc.yaml")  # grpc.yaml is included
BAD = sorted((CONFIGS / "bad").glob("*.yaml"))
ENV = {"MY_POD_IP": "127.0.0.1", "MY_POD_NAME": "collector-0", "QUEUE_DIR": "/tmp"}
_EXPECT_RE = re.compile(r"^# expect: (\d+) (\S+) :: (.+)$", re.M)


def _validate(path: Path):
    # cwd = the config's directory: ${file:grpc.yaml} is relative to the working directory, as in Go
    return run_collector("validate", "--config", path.name, cwd=path.parent, env=ENV)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_config_loads(path):
    result = _validate(path)
    assert result.returncode == 0, result.stderr
    assert "error:" not in result.stderr


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_config_fails_with_every_error_at_its_line(path):
    expected = _EXPECT_RE.findall(path.read_text())
    assert expected, f"{path.name} names no '# expect:' lines"
    result = _validate(path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for line, yaml_path, message in expected:
        prefix = f"error: {path.name}:{line}: {yaml_path}: "
        found = [e for e in errors if e.startswith(prefix)]
        assert found, (prefix, result.stderr)
        assert message in found[0][len(prefix) :], (message, found[0])
    assert len(errors) == len(expected), result.stderr  # every error, and nothing else
    assert "Traceback" not in result.stderr
