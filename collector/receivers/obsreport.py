"""What every receiver counts and logs the same way (the Go Collector's receiverhelper.ObsReport):
the otelcol_receiver_* counters of one transport, bad input turned away, and a push into the
pipeline whose outcome is counted before the receiver answers its client."""

from __future__ import annotations

from ..consumer import ConsumerError, Traces

__all__ = ["TransportReport"]


class TransportReport:
    """The counters of one receiver on one transport (``grpc``, ``http``, ``udp_thrift_compact``, ...)."""

    __slots__ = ("accepted", "refused", "failed", "requests", "_log", "_transport")

    def __init__(self, settings, transport: str):
        t, rid = settings.telemetry, str(settings.id)
        self.accepted = t.receiver_accepted_spans.labels(rid, transport)
        self.refused = t.receiver_refused_spans.labels(rid, transport)
        self.failed = t.receiver_failed_spans.labels(rid, transport)
        self.requests = {o: t.receiver_requests.labels(rid, transport, o) for o in ("success", "refused", "failure")}
        self._log = settings.logger
        self._transport = transport

    def reject(self, reason: str, spans: int = 0) -> None:
        """Bad input: counted as refused spans (1 when the input's span count is unknown)."""
        self.refused.inc(spans or 1)
        self.bad_request(reason)

    def bad_request(self, reason: str) -> None:
        """Bad input counted as a failed request only (no spans: as the Go OTLP receiver, which cannot
        count the spans of a request it could not read)."""
        self.requests["failure"].inc()
        self._log.debug("%s input rejected: %s", self._transport, reason)

    async def push(self, consumer, traces: Traces) -> BaseException | None:
        """Send to the pipeline; returns the error (already counted and logged) or None."""
        try:
            await consumer.consume(traces)
        except ConsumerError as e:
            self.refused.inc(traces.span_count)
            self.requests["refused"].inc()
            self._log.debug("pipeline refused %d spans: %s", traces.span_count, e)
            return e
        except Exception as e:  # a component bug: answered as retryable, like Go's plain errors
            self.failed.inc(traces.span_count)
            self.requests["failure"].inc()
            self._log.exception("pipeline failed on %d spans", traces.span_count)
            return e
        self.accepted.inc(traces.span_count)
        self.requests["success"].inc()
        return None
