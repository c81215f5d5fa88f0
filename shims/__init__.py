"""Compatibility shims: OpenTracing and OpenCensus code on otel_lite."""
