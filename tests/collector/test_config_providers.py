"""Go's config providers inside values: ${file:...}, ${yaml:...}, ${env:...} nested in a reference,
and what is refused (an unknown scheme, http(s), a mapping inside a string, a reference loop)."""

from __future__ import annotations

import pytest

from otel_lite.collector.config import ConfigErrors, load_raw


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_file_provider_whole_field_is_the_parsed_file_and_is_expanded_in_turn(tmp_path):
    part = _write(tmp_path, "grpc.yaml", "endpoint: ${env:EP}\nmax_recv_msg_size_mib: 8\n")
    token = _write(tmp_path, "token", "s3cret\n")
    main = _write(
        tmp_path,
        "c.yaml",
        f"grpc: ${{file:{part}}}\nheader: 'Bearer ${{file:{token}}}'\nport: ${{file:{tmp_path}/port}}\n",
    )
    _write(tmp_path, "port", "4317\n")
    raw = load_raw([main], env={"EP": "10.0.0.1:4317"})
    assert raw == {
        "grpc": {"endpoint": "10.0.0.1:4317", "max_recv_msg_size_mib": 8},
        "header": "Bearer s3cret",  # inside a string: the file's text, its newline trimmed
        "port": 4317,  # a whole field: parsed as YAML
    }


def test_reference_inside_a_reference(tmp_path):
    _write(tmp_path, "x.yaml", "a: 1\n")
    raw = load_raw(["yaml:k: ${file:${env:DIR}/x.yaml}"], env={"DIR": str(tmp_path)})
    assert raw == {"k": {"a": 1}}


def test_yaml_provider_and_escaping():
    raw = load_raw(["yaml:list: ${yaml:[a, b]}\nmap: '${yaml:{x: 2}}'\nlit: $${env:NOT_EXPANDED}"], env={})
    assert raw == {"list": ["a", "b"], "map": {"x": 2}, "lit": "${env:NOT_EXPANDED}"}


def test_every_provider_error_is_reported_with_its_path(tmp_path):
    main = _write(
        tmp_path,
        "c.yaml",
        "a: ${vault:secret/x}\nb: ${file:/no/such/file}\nc: ${https://example.com/c.yaml}\nd: 'x-${yaml:{k: v}}'\n",
    )
    with pytest.raises(ConfigErrors) as info:
        load_raw([main], env={})
    errors = {e.path: e.message for e in info.value.errors}
    assert errors["a"] == "unsupported config provider 'vault' in ${vault:secret/x} (supported: env, file, yaml)"
    assert errors["b"].startswith("cannot read file '/no/such/file'")
    assert "http(s) config providers are not supported" in errors["c"]
    assert errors["d"] == "${yaml:{k: v}} is a dict: it cannot be part of a string"


def test_a_file_that_names_itself_stops(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"again: ${{file:{loop}}}\n")
    with pytest.raises(ConfigErrors) as info:
        load_raw([str(loop)], env={})
    assert "nest more than 10 deep" in str(info.value)
