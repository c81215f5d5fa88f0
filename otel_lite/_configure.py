"""``configure()`` and its helpers: a TracerProvider from the OTEL_* environment and arguments.

Re-exported by ``otel_lite`` (``otel_lite.configure``, ``otel_lite.otlp_exporter``,
``otel_lite.set_propagators``), which loads this module on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

from opentelemetry import trace as trace_api

from ._log import apply_log_level
from ._propagators import DEFAULT_PROPAGATORS, composite
from .config import env_str, first_env_str, pick
from .export import ConsoleSpanExporter
from .ids import IdGenerator
from .limits import SpanLimits
from .processors import BatchSpanProcessor
from .provider import TracerProvider
from .resource import Resource
from .sampling import Sampler, sampler_from_name

__all__ = ["configure", "otlp_exporter", "set_propagators"]

_log = logging.getLogger("otel_lite")


def configure(
    service_name: str | None = None,
    *,
    resource_attributes: Mapping | None = None,
    resource: Resource | None = None,
    exporter=None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    compression: str | None = None,
    timeout: float | None = None,
    insecure: bool | None = None,
    certificate_file: str | None = None,
    client_key_file: str | None = None,
    client_certificate_file: str | None = None,
    sampler: Sampler | str | None = None,
    sampler_arg: float | str | None = None,
    span_limits: SpanLimits | None = None,
    id_generator: IdGenerator | None = None,
    max_queue_size: int | None = None,
    schedule_delay_millis: int | None = None,
    max_export_batch_size: int | None = None,
    export_timeout_millis: int | None = None,
    propagators: Iterable[str] | None = None,
    set_global: bool = True,
) -> TracerProvider | trace_api.TracerProvider:
    """Build a TracerProvider from the OTEL_* environment and these arguments
    (which win), give it a batch processor with the chosen exporter, install
    it (and the propagators) globally, and return it.

    ``exporter`` is an exporter object (anything with ``export``/``shutdown``,
    opentelemetry-sdk exporters included), or a name: ``otlp`` (default,
    honouring ``OTEL_EXPORTER_OTLP_*``; ``protocol`` picks ``grpc``,
    ``http/protobuf`` or ``http/json``), ``console`` or ``none``; without it
    ``OTEL_TRACES_EXPORTER`` decides.  ``timeout`` is in seconds, like the
    official exporters' argument (the environment variables are milliseconds).
    The global propagators are installed too: ``propagators`` (names), else
    ``OTEL_PROPAGATORS``, else ``tracecontext,baggage``; ``tracecontext`` is otel_lite's
    W3C Trace Context Level 2 propagator (``otel_lite.propagation``).

    The OpenTelemetry API accepts one global TracerProvider per process.  When one is already set
    (an earlier ``configure()``, opentelemetry-instrument, another SDK), ``configure()`` logs a
    warning once and returns the provider in effect, not a new one that would receive nothing; that
    is an otel_lite ``TracerProvider`` unless another SDK installed its own first.
    """
    apply_log_level(env_str("OTEL_LOG_LEVEL"))
    attributes = dict(resource_attributes or {})
    if service_name:
        attributes["service.name"] = service_name
    if resource is None:
        resource = Resource.create(attributes)
    elif attributes:
        resource = resource.merge(Resource(attributes))
    if isinstance(sampler, str):
        sampler = sampler_from_name(sampler, None if sampler_arg is None else str(sampler_arg))
    provider = TracerProvider(sampler=sampler, resource=resource, id_generator=id_generator, span_limits=span_limits)
    otlp_options = dict(
        endpoint=endpoint,
        headers=headers,
        compression=compression,
        timeout=timeout,
        insecure=insecure,
        certificate_file=certificate_file,
        client_key_file=client_key_file,
        client_certificate_file=client_certificate_file,
    )
    span_exporters = _exporters(exporter, protocol, otlp_options)
    # the argument, else OTEL_PROPAGATORS, else the spec's default: "tracecontext" is otel_lite's own
    # W3C propagator (otel_lite.propagation), which the API's import-time OTEL_PROPAGATORS reading is not
    set_propagators(propagators if propagators is not None else _env_propagators())
    if set_global:
        # installed before its processors exist, so that a refused provider starts no worker thread
        trace_api.set_tracer_provider(provider)
        active = trace_api.get_tracer_provider()
        if active is not provider:
            return _refused(provider, active, span_exporters, exporter)
    for span_exporter in span_exporters:
        provider.add_span_processor(
            BatchSpanProcessor(
                span_exporter,
                max_queue_size=max_queue_size,
                schedule_delay_millis=schedule_delay_millis,
                max_export_batch_size=max_export_batch_size,
                export_timeout_millis=export_timeout_millis,
            )
        )
    return provider


_refusal_warned = False


def _refused(
    provider: TracerProvider, active: trace_api.TracerProvider, span_exporters: list, given_exporter
) -> trace_api.TracerProvider:
    """The API keeps the first global TracerProvider: this configuration would receive no span.
    Say so (once), release what was built for it, and return the provider really in effect."""
    global _refusal_warned
    if not _refusal_warned:
        _refusal_warned = True
        if isinstance(active, TracerProvider):
            what = (
                "an otel_lite TracerProvider (an earlier configure(), or opentelemetry-instrument's otel_lite "
                "configurator)"
            )
        else:
            what = f"{type(active).__module__}.{type(active).__qualname__} (not otel_lite)"
        _log.warning(
            "otel_lite.configure(): the global TracerProvider is already %s and the OpenTelemetry API "
            "does not replace it; this configuration is not used and configure() returns the provider "
            "in effect. Call configure() once, before anything sets a provider (under "
            "opentelemetry-instrument, configure through the OTEL_* variables instead)",
            what,
        )
    for span_exporter in span_exporters:
        if span_exporter is given_exporter:  # the caller's object: theirs to shut down
            continue
        try:
            span_exporter.shutdown()
        except Exception:
            _log.debug("shutting down an unused exporter failed", exc_info=True)
    provider.shutdown()  # no processors: only its exit hook goes
    return active


def _exporters(exporter, protocol, otlp_options) -> list:
    if exporter is not None and not isinstance(exporter, str):
        return [exporter]
    names = exporter or env_str("OTEL_TRACES_EXPORTER") or "otlp"
    result = []
    for name in (n.strip().lower() for n in names.split(",")):
        if name == "none":
            continue
        if name == "console":
            result.append(ConsoleSpanExporter())
        elif name == "otlp":
            result.append(otlp_exporter(protocol, **otlp_options))
        else:
            _log.warning("unknown trace exporter %r ignored (known: otlp, console, none)", name)
    return result


def otlp_exporter(protocol: str | None = None, **options):
    """An OTLP exporter for ``protocol`` (argument, then OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL,
    then the spec's default ``http/protobuf``).  For HTTP an ``endpoint`` without a
    path (``http://collector:4318``) gets ``/v1/traces`` appended; one with a path is
    used as given."""
    protocol = pick(
        protocol, first_env_str("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf"
    )
    options = {k: v for k, v in options.items() if v is not None}
    if protocol == "grpc":
        from .export.otlp_grpc import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(**options)
    if protocol not in ("http/protobuf", "http/json"):
        _log.warning("unknown OTLP protocol %r, using http/protobuf", protocol)
        protocol = "http/protobuf"
    from .export.otlp_http import TRACES_PATH, OTLPSpanExporter

    endpoint = options.get("endpoint")
    if endpoint and urlparse(endpoint).path in ("", "/"):
        # a bare base URL means what OTEL_EXPORTER_OTLP_ENDPOINT means: the signal path goes after it
        options["endpoint"] = endpoint.rstrip("/") + TRACES_PATH
    return OTLPSpanExporter(encoding="json" if protocol == "http/json" else "proto", **options)


def _env_propagators() -> list[str]:
    value = env_str("OTEL_PROPAGATORS")
    return value.split(",") if value is not None else list(DEFAULT_PROPAGATORS)


def set_propagators(names: Iterable[str] | str) -> None:
    """Install the global text-map propagators by name (the values of
    OTEL_PROPAGATORS: tracecontext, baggage, b3, b3multi, jaeger, ...; a comma-separated
    string works too).  ``tracecontext`` is otel_lite's W3C Trace Context Level 2
    propagator (``otel_lite.propagation``); the others come from the
    ``opentelemetry_propagator`` entry points (``pip install otel-lite[propagators]``
    for b3, b3multi and jaeger).  ``none`` alone installs no propagator."""
    from opentelemetry import propagate

    propagate.set_global_textmap(composite(names))
