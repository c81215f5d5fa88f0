"""Config loading: sources, merging, --set, env expansion, validation with YAML paths."""

from __future__ import annotations

import dataclasses

import pytest

from otel_lite.collector.component import ComponentConfig, ComponentID, ConfigError
from otel_lite.collector.config import (
    ConfigErrors,
    build_config,
    expand_env,
    load_config,
    load_raw,
    parse_yaml,
)

GOOD = """
receivers:
  otlp:
    protocols:
      grpc:
      http:
        endpoint: 127.0.0.1:4319
  otlp/2:
    protocols:
      grpc: {endpoint: "127.0.0.1:5317"}
processors:
  batch:
  batch/small: {send_batch_size: 10}
extensions:
  health_check:
exporters:
  file: {path: /tmp/x.jsonl}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp, otlp/2]
      processors: [batch]
      exporters: [file]
    traces/second:
      receivers: [otlp]
      processors: [batch/small]
      exporters: [file]
  telemetry:
    metrics: {address: "127.0.0.1:9999"}
    logs: {level: debug}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def errors_of(excinfo) -> dict[str, str]:
    errs = excinfo.value.errors if isinstance(excinfo.value, ConfigErrors) else [excinfo.value]
    return {e.path: e.message for e in errs}


def test_full_config(tmp_path):
    cfg = load_config([write(tmp_path, "c.yaml", GOOD)])
    otlp = cfg.receivers[ComponentID("otlp")].config
    assert otlp.protocols.grpc.endpoint == "127.0.0.1:4317"  # `grpc:` with no value = defaults
    assert otlp.protocols.http.endpoint == "127.0.0.1:4319"
    assert cfg.receivers[ComponentID("otlp", "2")].config.protocols.http is None
    assert set(cfg.service.pipelines) == {"traces", "traces/second"}
    assert cfg.service.pipelines["traces"].receivers == [ComponentID("otlp"), ComponentID("otlp", "2")]
    assert cfg.service.extensions == [ComponentID("health_check")]
    assert cfg.service.telemetry.metrics.address == "127.0.0.1:9999"
    assert cfg.service.telemetry.metrics.level == "normal"
    assert cfg.service.telemetry.logs.level == "debug"


MINIMAL = """
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:4317"}}}}
extensions: {health_check: {}}
service:
  extensions: [health_check]
  pipelines: {traces: {receivers: [otlp], exporters: [otlp_sink]}}
exporters: {otlp_sink: {}}
"""


def _lookup_with_sink():
    """The registry plus a trivial exporter type, so config tests do not depend on other modules."""
    from otel_lite.collector import registry
    from otel_lite.collector.component import ComponentConfig, Factory

    sink = Factory(kind="exporter", type="otlp_sink", config_class=ComponentConfig, create=lambda *a: None)
    return lambda kind, t: sink if (kind, t) == ("exporter", "otlp_sink") else registry.lookup(kind, t)


def test_env_expansion_rules():
    env = {"PORT": "4317", "HOST": "10.0.0.1", "FLAG": "true", "EMPTY": ""}
    data = {
        "whole_int": "${env:PORT}",
        "whole_bool": "${FLAG}",
        "inline": "${env:HOST}:${env:PORT}",
        "default": "${env:MISSING:-fallback}",
        "default_int": "${env:MISSING:-42}",
        "default_unused": "${env:PORT:-1}",
        "unset": "${env:MISSING}",
        "empty": "${EMPTY}",
        "escaped": "$${env:PORT}",
        "dollars": "cost $$5 and $x",
        "nested": {"list": ["${env:PORT}", "a${HOST}"]},
        "not_a_string": 12,
    }
    out = expand_env(data, env=env)
    assert out == {
        "whole_int": 4317,
        "whole_bool": True,
        "inline": "10.0.0.1:4317",
        "default": "fallback",
        "default_int": 42,
        "default_unused": 4317,
        "unset": "",
        "empty": "",
        "escaped": "${env:PORT}",
        "dollars": "cost $5 and $x",
        "nested": {"list": [4317, "a10.0.0.1"]},
        "not_a_string": 12,
    }


def test_env_expansion_errors_have_paths():
    with pytest.raises(ConfigError) as e:
        expand_env({"a": {"b": ["ok", "${vault:secret/x}"]}}, env={})
    assert e.value.path == "a.b[1]" and "provider" in e.value.message
    with pytest.raises(ConfigError) as e:
        expand_env({"x": "${not valid}"}, env={})
    assert e.value.path == "x"


def test_env_expansion_in_a_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OTLP_GRPC_ENDPOINT", "127.0.0.1:6000")
    monkeypatch.setenv("MAX_MIB", "16")
    text = MINIMAL.replace(
        'endpoint: "127.0.0.1:4317"', 'endpoint: "${env:OTLP_GRPC_ENDPOINT}", max_recv_msg_size_mib: "${MAX_MIB}"'
    )
    cfg = load_config([write(tmp_path, "c.yaml", text)], lookup=_lookup_with_sink())
    grpc_cfg = cfg.receivers[ComponentID("otlp")].config.protocols.grpc
    assert grpc_cfg.endpoint == "127.0.0.1:6000" and grpc_cfg.max_recv_msg_size_mib == 16


def test_sources_merge_in_order_and_set_wins(tmp_path, monkeypatch):
    a = write(tmp_path, "a.yaml", MINIMAL)
    b = write(
        tmp_path,
        "b.yaml",
        "receivers: {otlp: {protocols: {http: {}}}}\nservice: {pipelines: {traces: {exporters: [otlp_sink]}}}\n",
    )
    monkeypatch.setenv("EXTRA_CFG", "service: {telemetry: {logs: {level: warn}}}")
    raw = load_raw(
        [a, "file:" + b, "env:EXTRA_CFG", "yaml:processors::batch::timeout: 2s"],
        ["receivers.otlp.protocols.grpc.endpoint=127.0.0.1:7000", "service::telemetry::metrics::level=none"],
    )
    otlp = raw["receivers"]["otlp"]["protocols"]
    assert otlp["grpc"]["endpoint"] == "127.0.0.1:7000"  # --set
    assert otlp["http"] == {}  # maps merge
    assert raw["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert raw["service"]["telemetry"] == {"logs": {"level": "warn"}, "metrics": {"level": "none"}}
    assert raw["processors"] == {"batch": {"timeout": "2s"}}
    # lists are replaced, not appended
    raw = load_raw([a, "yaml:service: {extensions: []}"])
    assert raw["service"]["extensions"] == []


def test_set_values_are_yaml():
    raw = load_raw(["yaml:{}"], ["a.b=3", "a.c=true", "a.d=[x, y]", "a.e=1:30", "a.f=on", "a.g="])
    assert raw == {"a": {"b": 3, "c": True, "d": ["x", "y"], "e": "1:30", "f": "on", "g": None}}
    with pytest.raises(ConfigErrors):
        load_raw(["yaml:{}"], ["novalue"])


def test_yaml_is_strict():
    assert parse_yaml("a: yes\nb: 0x1f\nc: 2024-01-01") == {"a": "yes", "b": 31, "c": "2024-01-01"}
    with pytest.raises(Exception, match="duplicate key"):
        parse_yaml("a: 1\na: 2\n")


def test_unreadable_and_invalid_sources(tmp_path):
    with pytest.raises(ConfigErrors) as e:
        load_raw(
            [
                str(tmp_path / "missing.yaml"),
                write(tmp_path, "bad.yaml", "a: [unclosed"),
                write(tmp_path, "list.yaml", "- 1\n"),
                "env:NOT_SET_ANYWHERE_XYZ",
            ]
        )
    messages = "\n".join(str(x) for x in e.value.errors)
    assert len(e.value.errors) == 4
    assert "cannot read" in messages and "invalid YAML" in messages and "mapping" in messages
    assert "NOT_SET_ANYWHERE_XYZ" in messages


def test_all_errors_collected_with_paths():
    text = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "no-port", bogus: 1}
  nosuch: {}
  "bad id!": {}
processors:
  batch: {not_a_batch_option: 1}
exporters:
  otlp_sink:
connectors:
  servicegraph: {}
extras: {}
extensions:
  health_check: {endpoint: 5}
service:
  extensions: [health_check, zpages]
  pipelines:
    traces:
      receivers: [otlp, otlp/undefined]
      processors: [batch, batch, memory_limiter]
      exporters: []
    metrics:
      receivers: [otlp]
      exporters: [otlp_sink]
    traces/ok:
      receivers: [otlp]
      exporters: [otlp_sink]
      unknown_key: 1
  telemetry:
    metrics: {level: verbose}
"""
    with pytest.raises(ConfigErrors) as e:
        build_config(parse_yaml(text), _lookup_with_sink())
    errs = errors_of(e)
    expected = {
        "connectors.servicegraph",
        "extras",
        "receivers.otlp.protocols.grpc.bogus",
        "receivers.nosuch",
        "receivers.bad id!",
        "extensions.health_check.endpoint",
        "service.extensions[1]",
        "service.pipelines.traces.receivers[1]",
        "service.pipelines.traces.processors[1]",
        "service.pipelines.traces.processors[2]",
        "service.pipelines.traces.exporters",
        "service.pipelines.metrics.exporters[0]",  # the test sink takes traces only
        "service.pipelines.traces/ok.unknown_key",
        "service.telemetry.metrics.level",
    }
    missing = expected - set(errs)
    assert not missing, (missing, errs)
    assert "handles traces only" in errs["service.pipelines.metrics.exporters[0]"]
    assert "connector type 'servicegraph'" in errs["connectors.servicegraph"]
    assert "unknown receiver type 'nosuch'" in errs["receivers.nosuch"]
    assert "not configured" in errs["service.pipelines.traces.receivers[1]"]
    assert errs["processors.batch.not_a_batch_option"].startswith("unknown key (valid keys: send_batch_size, timeout")
    # every error carries the full path in its text too
    assert all(str(x).startswith(x.path) for x in e.value.errors)


def test_missing_service_and_pipelines():
    with pytest.raises(ConfigErrors) as e:
        build_config({"receivers": {}})
    assert "service" in errors_of(e)
    with pytest.raises(ConfigErrors) as e:
        build_config({"service": {"pipelines": {}}})
    assert "service.pipelines" in errors_of(e)


def test_endpoint_errors_carry_the_component_path():
    text = MINIMAL.replace('"127.0.0.1:4317"', '"127.0.0.1:99999"')
    with pytest.raises(ConfigErrors) as e:
        build_config(parse_yaml(text), _lookup_with_sink())
    assert list(errors_of(e)) == ["receivers.otlp.protocols.grpc.endpoint"]


def test_default_config_is_valid():
    from otel_lite.collector.cli import default_config_source

    cfg = load_config([default_config_source()])
    pipe = cfg.service.pipelines["traces"]
    assert [str(p) for p in pipe.processors] == ["memory_limiter", "batch"]
    assert [str(x) for x in pipe.exporters] == ["file", "debug"]
    otlp = cfg.receivers[ComponentID("otlp")].config.protocols
    assert otlp.grpc.endpoint == "127.0.0.1:4317" and otlp.http.endpoint == "127.0.0.1:4318"


def test_telemetry_metrics_readers_form():
    raw = parse_yaml(MINIMAL)
    raw["service"]["telemetry"] = parse_yaml(
        "metrics: {readers: [{pull: {exporter: {prometheus: {host: 127.0.0.2, port: 9464}}}}]}"
    )
    cfg = build_config(raw, _lookup_with_sink())
    assert cfg.service.telemetry.metrics.address == "127.0.0.2:9464"
    raw["service"]["telemetry"] = parse_yaml("metrics: {readers: [{push: {}}]}")
    with pytest.raises(ConfigErrors) as e:
        build_config(raw, _lookup_with_sink())
    assert list(errors_of(e)) == ["service.telemetry.metrics.readers[0]"]


@dataclasses.dataclass
class _Item(ComponentConfig):
    size: int = 1

    def validate(self) -> None:
        if self.size <= 0:
            raise ConfigError("size", "must be positive")


@dataclasses.dataclass
class _Holder(ComponentConfig):
    items: list[_Item] = dataclasses.field(default_factory=list)
    named: dict[str, _Item] = dataclasses.field(default_factory=dict)


def test_validate_tree_reaches_configs_inside_lists_and_mappings():
    _Holder.from_mapping({"items": [{"size": 2}], "named": {"a": {"size": 3}}})
    with pytest.raises(ConfigError) as err:
        _Holder.from_mapping({"items": [{"size": 2}, {"size": 0}]}, "processors.x")
    assert err.value.path == "processors.x.items[1].size"
    with pytest.raises(ConfigError) as err:
        _Holder.from_mapping({"named": {"a": {"size": -1}}})
    assert err.value.path == "named.a.size"
