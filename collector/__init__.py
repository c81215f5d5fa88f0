"""otel-lite collector: receives OTLP, batches, samples and forwards spans."""
