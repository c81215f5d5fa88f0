"""The OTLP protocol rules the SDK's exporters and the collector share.

Both sides import this package and nothing of each other's machinery:
importing it loads no SDK module (provider, span, processors, exporters) and
nothing of ``collector``; the protobuf types are loaded by the functions that
need them.

* ``wire``: protobuf framing of trace requests (varints, length-delimited
  fields, the envelope's tags);
* ``json_codec``: OTLP/JSON both ways (hex trace and span ids);
* ``responses``: what a server answers: retryable gRPC codes and HTTP
  statuses, ``Retry-After`` and ``RetryInfo`` delays, partial success,
  failure bodies.
"""

from __future__ import annotations

from .json_codec import (
    SPAN_ID_SIZE,
    TRACE_ID_SIZE,
    OTLPJSONError,
    hex_to_id,
    id_to_hex,
    json_to_request,
    request_to_json,
    request_to_json_dict,
)
from .responses import (
    GRPC_RETRYABLE_CODES,
    HTTP_RETRYABLE_STATUSES,
    RETRY_INFO_TRAILER,
    STATUS_DETAILS_TRAILER,
    PartialSuccess,
    error_message,
    format_retry_after,
    grpc_code_name,
    grpc_code_number,
    grpc_code_retryable,
    grpc_retry_delay,
    http_status_retryable,
    media_type,
    parse_partial_success,
    parse_retry_after,
    partial_success,
    retry_delay_from_status,
    rpc_status,
)
from .wire import len_field, varint

__all__ = [
    "SPAN_ID_SIZE",
    "TRACE_ID_SIZE",
    "OTLPJSONError",
    "hex_to_id",
    "id_to_hex",
    "json_to_request",
    "request_to_json",
    "request_to_json_dict",
    "GRPC_RETRYABLE_CODES",
    "HTTP_RETRYABLE_STATUSES",
    "RETRY_INFO_TRAILER",
    "STATUS_DETAILS_TRAILER",
    "PartialSuccess",
    "error_message",
    "format_retry_after",
    "grpc_code_name",
    "grpc_code_number",
    "grpc_code_retryable",
    "grpc_retry_delay",
    "http_status_retryable",
    "media_type",
    "parse_partial_success",
    "parse_retry_after",
    "partial_success",
    "retry_delay_from_status",
    "rpc_status",
    "len_field",
    "varint",
]
