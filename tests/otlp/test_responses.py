"""otel_lite.otlp.responses: the OTLP spec's retry classification, server delays, partial success."""

from __future__ import annotations

import calendar
import email.utils
import json
import math

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_lite.otlp import (
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

# -- classification: the table of /work/shared/reference/collector.md §1.1 (OTLP specification) ---------------

# code -> (retryable without RetryInfo, retryable with RetryInfo)
SPEC_GRPC = {
    "CANCELLED": (True, True),
    "DEADLINE_EXCEEDED": (True, True),
    "ABORTED": (True, True),
    "OUT_OF_RANGE": (True, True),
    "UNAVAILABLE": (True, True),
    "DATA_LOSS": (True, True),
    "RESOURCE_EXHAUSTED": (False, True),
    "UNKNOWN": (False, False),
    "INVALID_ARGUMENT": (False, False),
    "NOT_FOUND": (False, False),
    "ALREADY_EXISTS": (False, False),
    "PERMISSION_DENIED": (False, False),
    "UNAUTHENTICATED": (False, False),
    "FAILED_PRECONDITION": (False, False),
    "UNIMPLEMENTED": (False, False),
    "INTERNAL": (False, False),
}


def test_the_spec_table_names_every_failure_code():
    assert set(SPEC_GRPC) == {code.name for code in grpc.StatusCode} - {"OK"}


@pytest.mark.parametrize("name", sorted(SPEC_GRPC))
@pytest.mark.parametrize("form", ["enum", "name", "number"])
def test_grpc_codes_are_classified_as_the_spec_says(name, form):
    code = {"enum": grpc.StatusCode[name], "name": name, "number": grpc.StatusCode[name].value[0]}[form]
    without, with_info = SPEC_GRPC[name]
    assert grpc_code_retryable(code, has_retry_info=False) is without
    assert grpc_code_retryable(code, has_retry_info=True) is with_info


def test_retryable_code_set_is_the_spec_set():
    assert GRPC_RETRYABLE_CODES == {name for name, (without, _) in SPEC_GRPC.items() if without}


def test_grpc_code_names_and_numbers_agree_with_grpc():
    for code in grpc.StatusCode:
        number = code.value[0]
        assert grpc_code_name(number) == grpc_code_name(code) == code.name
        assert grpc_code_number(code) == grpc_code_number(code.name) == number
        assert number == getattr(code_pb2, code.name)  # and with google.rpc.Code
    assert grpc_code_name(99) == "UNKNOWN" and grpc_code_number("NO_SUCH_CODE") == 2


def test_http_retryable_statuses_are_429_502_503_504_only():
    assert HTTP_RETRYABLE_STATUSES == {429, 502, 503, 504}
    for status in range(100, 600):
        assert http_status_retryable(status) is (status in (429, 502, 503, 504)), status


# -- Retry-After (RFC 9110 §10.2.3) -------------------------------------------------------------------------

NOW = float(calendar.timegm((2024, 3, 1, 12, 0, 0)))  # Fri, 01 Mar 2024 12:00:00 GMT


@pytest.mark.parametrize(
    "value, seconds", [("7", 7.0), (" 7 ", 7.0), ("\t120", 120.0), ("0", 0.0), ("007", 7.0), ("86400", 86400.0)]
)
def test_retry_after_delay_seconds(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 01 Mar 2024 12:00:30 GMT",  # IMF-fixdate, the preferred form
        "Friday, 01-Mar-24 12:00:30 GMT",  # obsolete RFC 850 form
        "Fri Mar  1 12:00:30 2024",  # obsolete asctime form: no zone, GMT
        "Fri, 01 Mar 2024 12:00:30 -0000",  # "unknown local zone": still GMT
        "Fri, 01 Mar 2024 14:00:30 +0200",  # an explicit offset is honoured
    ],
)
def test_retry_after_http_dates(value):
    assert parse_retry_after(value, now=NOW) == pytest.approx(30.0)


def test_retry_after_date_without_zone_is_gmt_whatever_the_local_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    if hasattr(time, "tzset"):
        time.tzset()
    try:
        assert parse_retry_after("Fri Mar  1 12:00:30 2024", now=NOW) == pytest.approx(30.0)
    finally:
        monkeypatch.delenv("TZ")
        if hasattr(time, "tzset"):
            time.tzset()


def test_retry_after_date_now_defaults_to_the_clock():
    import time

    soon = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= parse_retry_after(soon) <= 61


@pytest.mark.parametrize(
    "value", ["Fri, 01 Mar 2024 11:59:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 01 Mar 2024 12:00:00 GMT"]
)
def test_retry_after_date_in_the_past_or_now_means_no_wait(value):
    assert parse_retry_after(value, now=NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-3",
        "+3",
        "1.5",
        "0.5",
        "1e3",
        "nan",
        "inf",
        "0x10",
        "3 s",
        "²",
        "١٢",  # digits to str.isdigit / float, but not RFC 9110's ASCII DIGIT
        "Mon, 99 Foo 2020",
        "Sat, 31 Feb 2024 08:49:37 GMT",
        "Sun, 06 Nov 99999 08:49:37 GMT",
        "Fri, 01 Mar 2024",
    ],
)
def test_retry_after_invalid_values_are_ignored(value):
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_absurd_values_are_capped():
    assert parse_retry_after("9" * 400, now=NOW) == 2**31 - 1
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == 2**31 - 1


@pytest.mark.parametrize(
    "seconds, header",
    [(0.2, "1"), (1.0, "1"), (1.2, "2"), (30, "30"), (0, "1"), (-5, "1"), (math.nan, "1"), (math.inf, str(2**31 - 1))],
)
def test_format_retry_after(seconds, header):
    assert format_retry_after(seconds) == header
    assert parse_retry_after(header) == float(header)  # what we send, we read


# -- RetryInfo -------------------------------------------------------------------------------------------------


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromNanoseconds(int(seconds * 1e9))
    return info


def test_rpc_status_round_trips_through_the_trailer():
    status = rpc_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", 1.25)
    assert status.code == code_pb2.RESOURCE_EXHAUSTED and status.message == "slow down"
    assert retry_delay_from_status(status) == 1.25
    assert grpc_retry_delay(((STATUS_DETAILS_TRAILER, status.SerializeToString()),)) == 1.25
    assert grpc_retry_delay(grpc.aio.Metadata((STATUS_DETAILS_TRAILER, status.SerializeToString()))) == 1.25


def test_rpc_status_without_delay_has_no_details_and_takes_any_code_form():
    for code in (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", 14):
        status = rpc_status(code, "later")
        assert status.code == 14 and not status.details
        assert retry_delay_from_status(status) is None


def test_rpc_status_delay_is_never_negative():
    assert retry_delay_from_status(rpc_status(8, "x", -3)) == 0.0
    assert retry_delay_from_status(rpc_status(8, "x", 0)) == 0.0


def test_retry_info_in_the_legacy_trailer():
    trailers = (("other", "x"), (RETRY_INFO_TRAILER, _retry_info(0.3).SerializeToString()))
    assert grpc_retry_delay(trailers) == pytest.approx(0.3)
    # the status details win when both are there
    status = rpc_status(8, "x", 2)
    assert grpc_retry_delay((*trailers, (STATUS_DETAILS_TRAILER, status.SerializeToString()))) == 2


def test_retry_info_is_recognised_by_type_name_whatever_the_url_prefix():
    status = status_pb2.Status(code=8)
    detail = status.details.add()
    detail.type_url, detail.value = "example.com/types/google.rpc.RetryInfo", _retry_info(4).SerializeToString()
    assert retry_delay_from_status(status) == 4


def test_negative_retry_info_delay_reads_as_zero():
    status = status_pb2.Status(code=14)
    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = -5
    status.details.add().Pack(info)
    assert grpc_retry_delay(((STATUS_DETAILS_TRAILER, status.SerializeToString()),)) == 0.0


def test_missing_or_malformed_retry_info_is_absent():
    other = status_pb2.Status(code=8)
    other.details.add().Pack(error_details_pb2.DebugInfo(detail="x"))
    broken = status_pb2.Status(code=8)
    detail = broken.details.add()
    detail.type_url, detail.value = "type.googleapis.com/google.rpc.RetryInfo", b"\xff\xff\xff"
    huge = rpc_status(8, "x" * (70 * 1024), 1).SerializeToString()
    for trailers in (
        None,
        (),
        ((STATUS_DETAILS_TRAILER, other.SerializeToString()),),
        ((STATUS_DETAILS_TRAILER, broken.SerializeToString()),),
        ((STATUS_DETAILS_TRAILER, b"\xff\xff\xff"),),
        ((STATUS_DETAILS_TRAILER, "text"),),
        ((STATUS_DETAILS_TRAILER, huge),),
        ((RETRY_INFO_TRAILER, b"\xff"),),
        (("lonely",),),
    ):
        assert grpc_retry_delay(trailers) is None, trailers
    assert retry_delay_from_status(broken) is None


# -- partial success ---------------------------------------------------------------------------------------------


def _response(rejected: int = 0, message: str = "") -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = rejected
    response.partial_success.error_message = message
    return response


def test_partial_success_of_a_message():
    assert partial_success(_response(3, "too old")) == PartialSuccess(3, "too old")
    assert not partial_success(ExportTraceServiceResponse())
    assert PartialSuccess(0, "a warning") and PartialSuccess(2, "")


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "", None, "application/protobuf"])
def test_partial_success_protobuf_bodies(content_type):
    assert parse_partial_success(_response(2, "bad").SerializeToString(), content_type) == (2, "bad")
    assert parse_partial_success(b"", content_type) == (0, "")
    assert parse_partial_success(ExportTraceServiceResponse().SerializeToString(), content_type) == (0, "")


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"partialSuccess":{"rejectedSpans":"5","errorMessage":"dropped"}}', (5, "dropped")),  # int64 as a string
        (b'{"partialSuccess":{"rejectedSpans":5}}', (5, "")),
        (b'{"partial_success":{"rejected_spans":1,"error_message":"m"}}', (1, "m")),  # proto field names
        (b'{"partialSuccess":{"rejectedSpans":null}}', (0, "")),  # null is the default
        (b'{"partialSuccess":null}', (0, "")),
        (b"{}", (0, "")),
        (b'{"partialSuccess":{},"somethingNew":1}', (0, "")),  # unknown fields ignored
        (json_format.MessageToJson(_response(4, "x")).encode(), (4, "x")),
    ],
)
def test_partial_success_json_bodies(body, expected):
    assert parse_partial_success(body, "Application/JSON; charset=utf-8") == expected


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"\xff\xff\xff", "application/x-protobuf"),
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"partialSuccess":{"rejectedSpans":"many"}}', "application/json"),
        (b'{"partialSuccess":{"rejectedSpans":1.5}}', "application/json"),
    ],
)
def test_malformed_success_bodies_raise_value_error(body, content_type):
    with pytest.raises(ValueError, match="malformed OTLP export response"):
        parse_partial_success(body, content_type)


def test_media_type():
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type(" application/x-protobuf ") == "application/x-protobuf"
    assert media_type(None) == media_type("") == ""


# -- failure bodies ------------------------------------------------------------------------------------------------


def test_error_message_of_a_status_body():
    status = rpc_status(3, "span name missing")
    assert error_message(status.SerializeToString(), "application/x-protobuf") == "span name missing"
    assert error_message(json_format.MessageToJson(status).encode(), "application/json") == "span name missing"
    assert error_message(rpc_status(3, "x" * 2000).SerializeToString(), "") == "x" * 512
    assert len(error_message(rpc_status(3, "x" * 2000).SerializeToString(), "", limit=100)) == 100


def test_error_message_falls_back_to_text_bodies_only():
    assert error_message(b"upstream connect error\n", "text/plain") == "upstream connect error"
    assert error_message(b"<html>Bad Gateway</html>", "application/x-protobuf") == "<html>Bad Gateway</html>"
    assert error_message(b'{"error": "nope"}', "application/json") == '{"error": "nope"}'  # JSON, not a Status
    assert error_message(json.dumps({"message": 7}).encode(), "application/json") == '{"message": 7}'
    assert error_message(b"\x08\x0e", "application/x-protobuf") == ""  # a Status without a message: binary
    assert error_message(b"\x00\x01\x02garbage", "application/octet-stream") == ""
    assert error_message(b"", "application/json") == ""
