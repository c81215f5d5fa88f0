"""The README and the generated configuration reference stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.collector_process import run_collector

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_generated_from_the_config_classes():
    from otel_lite.collector.reference import render_reference

    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current.strip() == render_reference().strip(), (
        "regenerate it: python -m otel_lite.collector.reference > docs/configuration.md"
    )


def test_readme_opens_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    assert first_block[0] == "pip install -e '.[collector]' && python examples/demo.py"
    assert first_block[1] == "pip install -e '.[test]' && python3 -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci and "python3 -m pytest -q" in ci


@pytest.mark.parametrize("index", range(len(re.findall(r"```yaml\n", (ROOT / "README.md").read_text()))))
def test_readme_collector_configs_validate(index, tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    config = tmp_path / "config.yaml"
    config.write_text(blocks[index])
    result = run_collector("validate", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
