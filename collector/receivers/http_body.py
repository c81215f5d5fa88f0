"""HTTP request bodies for every HTTP receiver (the Go Collector's ``confighttp`` server side):
reading with a size limit and a deadline, ``Content-Encoding`` decompression capped on the expanded
size, and decoding big or compressed bodies off the event loop.

Errors are ``BadRequest`` (a 400 with the reason); ``BodyNotRead`` when the body was refused before
its end (too large, too slow), so the answer must close the connection (``CLOSE``).
"""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import Callable
from typing import TypeVar

__all__ = [
    "BadRequest",
    "TooLarge",
    "BodyNotRead",
    "BodyTooLarge",
    "BodyTimeout",
    "CLOSE",
    "COMPRESSIONS",
    "OFFLOAD_BYTES",
    "read_body",
    "content_encoding",
    "decompress",
    "decode_body",
]

T = TypeVar("T")

# what Content-Encoding may say ("" and "identity": not compressed); Go's list without snappy and lz4
COMPRESSIONS = ("", "identity", "gzip", "zstd", "zlib", "deflate")
OFFLOAD_BYTES = 256 * 1024  # bodies at least this large (or compressed) are decoded in a thread
CLOSE = {"Connection": "close"}  # the headers of an answer given before the body was read to its end


class BadRequest(Exception):
    """The request body cannot be taken: answered 400 with this reason."""


class TooLarge(BadRequest):
    """The body, as sent or decompressed, exceeds the limit."""


class BodyNotRead(BadRequest):
    """Refused before the body was read to its end: the answer closes the connection (``CLOSE``)."""

    status = 400


class BodyTooLarge(BodyNotRead, TooLarge):
    """The declared Content-Length, or the bytes received so far, exceed the limit."""


class BodyTimeout(BodyNotRead):
    """The body did not arrive within the read timeout (a sender trickling it)."""

    status = 408


async def read_body(request, limit: int, timeout: float | None = None) -> bytes:
    """The whole body of a Starlette ``request``, at most ``limit`` bytes, within ``timeout`` seconds
    (None or 0: no deadline).  Raises ``BodyTooLarge`` (before reading when the declared length is
    over the limit) or ``BodyTimeout``."""
    too_large = f"request body too large (limit {limit} bytes)"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(too_large)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout or None):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(too_large)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"request body not received within read_timeout ({timeout:g}s)") from None
    return b"".join(chunks)


def content_encoding(request) -> str:
    """The request's ``Content-Encoding``, lowercase ("" when absent)."""
    return request.headers.get("content-encoding", "").strip().lower()


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` decompressed as ``encoding`` says (one of ``COMPRESSIONS``); raises ``TooLarge`` when the
    result would exceed ``limit`` bytes (without expanding more than that), ``BadRequest`` when the body
    is not valid for its encoding or the encoding is unknown.  Concatenated gzip members and zstd frames
    are one body, as for Go's readers."""
    if encoding in ("", "identity"):
        return body
    if encoding == "zstd":
        return _zstd(body, limit)
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding in ("deflate", "zlib"):
        wbits = zlib.MAX_WBITS  # HTTP "deflate" is zlib-wrapped (as Go's zlib reader expects)
    else:
        raise _unsupported(encoding)
    chunks, total, data = [], 0, body
    try:
        while data:
            d = zlib.decompressobj(wbits)
            out = d.decompress(data, limit - total + 1)
            total += len(out)
            chunks.append(out)
            if total > limit or d.unconsumed_tail:
                raise TooLarge(f"decompressed body exceeds {limit} bytes")
            if not d.eof:
                raise BadRequest(f"truncated {encoding} body")
            data = d.unused_data if encoding == "gzip" else b""  # gzip may have several members
    except zlib.error as e:
        raise BadRequest(f"invalid {encoding} body: {e}") from None
    return b"".join(chunks)


def _unsupported(encoding: str) -> BadRequest:
    return BadRequest(f"unsupported Content-Encoding {encoding[:40]!r}")


def _zstd(body: bytes, limit: int) -> bytes:
    import zstandard

    chunks, total, data = [], 0, body
    try:
        while data:  # frame by frame: concatenated frames are one body, as for Go's reader
            # a bounded read first (a frame may expand a million-fold and need not declare its size);
            # then the same frame with decompressobj, which tells whether the frame is complete (a
            # truncated stream reads as a short one) and where the next frame starts
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                if len(reader.read(limit - total + 1)) > limit - total:
                    raise TooLarge(f"decompressed body exceeds {limit} bytes")
            d = zstandard.ZstdDecompressor().decompressobj()
            out = d.decompress(data)
            if not d.eof:
                raise BadRequest("truncated zstd body")
            total += len(out)
            chunks.append(out)
            data = d.unused_data
    except zstandard.ZstdError as e:
        raise BadRequest(f"invalid zstd body: {e}") from None
    return b"".join(chunks)


def _decompress_and_parse(body: bytes, encoding: str, limit: int, parse: Callable[[bytes], T]) -> T:
    return parse(decompress(body, encoding, limit))


async def decode_body(
    body: bytes,
    encoding: str,
    limit: int,
    parse: Callable[[bytes], T],
    *,
    allowed=COMPRESSIONS,
    offload_bytes: int = OFFLOAD_BYTES,
) -> T:
    """``parse`` applied to ``body`` decompressed (``decompress``; ``encoding`` must be in ``allowed``):
    on the loop for a small uncompressed body, in a thread for a big or compressed one, so that other
    clients stay served.  Raises ``BadRequest`` or whatever ``parse`` raises."""
    if encoding not in allowed:
        raise _unsupported(encoding)
    if len(body) < offload_bytes and not encoding:
        return parse(body)
    return await asyncio.to_thread(_decompress_and_parse, body, encoding, limit, parse)
