"""Span and trace id generation."""

from __future__ import annotations

import random


class IdGenerator:
    """Interface (same as opentelemetry-sdk's): subclasses return non-zero ids."""

    def generate_span_id(self) -> int:
        raise NotImplementedError

    def generate_trace_id(self) -> int:
        raise NotImplementedError

    def is_trace_id_random(self) -> bool:
        return False


class RandomIdGenerator(IdGenerator):
    """Random non-zero 64-bit span ids and 128-bit trace ids.

    ``random.getrandbits`` is a C call on a per-process Mersenne Twister, which
    ``random`` reseeds in forked children, so parent and child never collide.
    """

    __slots__ = ()

    def generate_span_id(self, _bits=random.getrandbits) -> int:
        span_id = _bits(64)
        while not span_id:
            span_id = _bits(64)
        return span_id

    def generate_trace_id(self, _bits=random.getrandbits) -> int:
        trace_id = _bits(128)
        while not trace_id:
            trace_id = _bits(128)
        return trace_id

    def is_trace_id_random(self) -> bool:
        return True
