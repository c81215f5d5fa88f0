"""What every receiver counts and logs the same way (the Go Collector's receiverhelper.ObsReport):
the otelcol_receiver_* counters of one transport, bad input turned away, and a push into the
pipeline whose outcome is counted before the receiver answers its client."""

from __future__ import annotations

from ..consumer import Batch, ConsumerError

__all__ = ["TransportReport"]


class TransportReport:
    """The counters of one receiver on one transport (``grpc``, ``http``, ``udp_thrift_compact``, ...);
    ``accepted`` / ``refused`` / ``failed`` are the spans' ones, the other signals' are picked by
    ``push`` from the batch it pushes."""

    __slots__ = ("accepted", "refused", "failed", "requests", "_by_signal", "_log", "_transport")

    def __init__(self, settings, transport: str):
        t, rid = settings.telemetry, str(settings.id)
        self._by_signal = {
            signal: (
                t.receiver_accepted[signal].labels(rid, transport),
                t.receiver_refused[signal].labels(rid, transport),
                t.receiver_failed[signal].labels(rid, transport),
            )
            for signal in t.receiver_accepted
        }
        self.accepted, self.refused, self.failed = self._by_signal["traces"]
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

    async def push(self, consumer, batch: Batch) -> BaseException | None:
        """Send to the pipeline; returns the error (already counted and logged) or None."""
        accepted, refused, failed = self._by_signal[batch.signal]
        n = batch.item_count
        try:
            await consumer.consume(batch)
        except ConsumerError as e:
            refused.inc(n)
            self.requests["refused"].inc()
            self._log.debug("pipeline refused %d %s: %s", n, batch.items, e)
            return e
        except Exception as e:  # a component bug: answered as retryable, like Go's plain errors
            failed.inc(n)
            self.requests["failure"].inc()
            self._log.exception("pipeline failed on %d %s", n, batch.items)
            return e
        accepted.inc(n)
        self.requests["success"].inc()
        return None
