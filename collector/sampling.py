"""Sampling arithmetic and W3C ``tracestate`` parsing shared by the two samplers.

Both the ``probabilistic_sampler`` processor and the tail sampler's
``probabilistic`` policy import their rules from here, so each rule is written
once and stays bit-compatible with the Go code it follows:

* FNV-1a hashing (32 and 64 bit) of a seed or salt followed by the trace id.
* The ``probabilistic_sampler``'s ``hash_seed`` mode (contrib
  ``processor/probabilisticsamplerprocessor``): FNV-1a 32 over the seed's 4
  little-endian bytes and the trace id, 14 hash bits compared with
  ``uint32(float32(pct) * float32(163.84))``, and the 56-bit randomness Go
  derives from that hash.
* The tail sampler's ``probabilistic`` policy (contrib
  ``processor/tailsamplingprocessor``): FNV-1a 64 over the salt and the trace
  id, kept when ``<= MaxUint64 * ratio`` computed as Go's ``big.Float`` does.
* OpenTelemetry consistent probability sampling (OTEP 235, contrib
  ``pkg/sampling``): thresholds and randomness as plain ints in [0, 2**56]
  (an item is kept when ``randomness >= threshold``), the ``th`` encoding with
  a precision in hex digits.
* W3C ``tracestate``: the list-member syntax and limits, and the OpenTelemetry
  ``ot`` member's ``rv`` / ``th`` sub-keys, parsed and written back.
"""

from __future__ import annotations

import math
import re
import struct
from fractions import Fraction

__all__ = [
    "MAX_ADJUSTED_COUNT",
    "ALWAYS_SAMPLE",
    "NEVER_SAMPLE",
    "ALL_PROBABILITIES_RANDOMNESS",
    "MIN_SAMPLING_PROBABILITY",
    "NUM_HASH_BUCKETS",
    "NUM_HASH_BUCKETS_LG2",
    "f32",
    "fnv1a32",
    "fnv1a64",
    "hash_seed_value",
    "hash_randomness",
    "hash_scaled_rate",
    "hash_seed_sampled",
    "hash_seed_threshold",
    "salt_hash",
    "ratio_threshold_u64",
    "salted_hash_sampled",
    "ProbabilityRangeError",
    "probability_to_threshold",
    "threshold_probability",
    "tvalue",
    "w3c_randomness",
    "TraceStateError",
    "tracestate_members",
    "W3CTraceState",
]

# --- FNV-1a ---------------------------------------------------------------------------------


def _fnv1a(offset: int, prime: int, mask: int):
    """The FNV-1a hash of one width: ``fn(data, h=offset)`` continues from state ``h``
    (Go's ``hash/fnv`` New32a / New64a + Write).  A closure rather than a shared helper
    with parameters: these run per trace, and a call more would cost ~2% of a sampler."""

    def fnv1a(data: bytes, h: int = offset) -> int:
        for b in data:
            h = ((h ^ b) * prime) & mask
        return h

    return fnv1a


fnv1a32 = _fnv1a(0x811C9DC5, 0x01000193, (1 << 32) - 1)
fnv1a64 = _fnv1a(0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1)
_UINT64_MAX = (1 << 64) - 1


# --- consistent-sampling thresholds and randomness (OTEP 235) -------------------------------

MAX_ADJUSTED_COUNT = 1 << 56  # NeverSample threshold; one above the largest randomness
ALWAYS_SAMPLE = 0
NEVER_SAMPLE = MAX_ADJUSTED_COUNT
ALL_PROBABILITIES_RANDOMNESS = MAX_ADJUSTED_COUNT - 1  # sampled at every threshold below "never"
MIN_SAMPLING_PROBABILITY = 1.0 / MAX_ADJUSTED_COUNT
_MASK56 = MAX_ADJUSTED_COUNT - 1
_THRESHOLD_HEX_DIGITS = 14


def f32(x: float) -> float:
    """Round to IEEE float32 (the Go config field is float32)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _go_round(x: float) -> int:
    f = math.floor(x)
    return int(f) + (1 if x - f >= 0.5 else 0)


class ProbabilityRangeError(ValueError):
    pass


def probability_to_threshold(prob: float, precision: int = 0) -> int:
    """Threshold rejecting ``1 - prob`` of the randomness space, rounded to
    ``precision`` significant hex digits (0 = all 14).  Precision grows by one
    digit per leading hex 0 or f so relative error stays small near the
    extremes.  Raises ProbabilityRangeError when prob is outside [2^-56, 1]."""
    if not precision:
        precision = _THRESHOLD_HEX_DIGITS
    if not (MIN_SAMPLING_PROBABILITY <= prob <= 1):
        raise ProbabilityRangeError("sampling probability out of the range [1/MaxAdjustedCount, 1]")
    if prob == 1:
        return ALWAYS_SAMPLE
    exp_f = math.frexp(prob)[1]
    exp_r = math.frexp(1 - prob)[1]
    precision = min(_THRESHOLD_HEX_DIGITS, max(precision + (-exp_f) // 4, precision + (-exp_r) // 4))
    threshold = MAX_ADJUSTED_COUNT - _go_round(prob * MAX_ADJUSTED_COUNT)
    shift = 4 * (_THRESHOLD_HEX_DIGITS - precision)
    if shift:
        threshold = ((threshold + (1 << (shift - 1))) >> shift) << shift
    return threshold


def threshold_probability(th: int) -> float:
    return (MAX_ADJUSTED_COUNT - th) / MAX_ADJUSTED_COUNT


def _hex14(value: int) -> str:
    return "" if value >= MAX_ADJUSTED_COUNT else format(value, "014x")


def tvalue(th: int) -> str:
    """The ``th`` encoding: 14 hex digits without trailing zeros; "0" for always."""
    if th == ALWAYS_SAMPLE:
        return "0"
    return _hex14(th).rstrip("0")


def w3c_randomness(trace_id: bytes) -> int:
    """The W3C trace randomness: the trace id's low 56 bits."""
    return int.from_bytes(trace_id[8:], "big") & _MASK56


# --- probabilistic_sampler: hash_seed mode ----------------------------------------------------

NUM_HASH_BUCKETS_LG2 = 14
NUM_HASH_BUCKETS = 1 << NUM_HASH_BUCKETS_LG2
_BUCKET_MASK = NUM_HASH_BUCKETS - 1
_SCALE_F32 = f32(NUM_HASH_BUCKETS / 100.0)


def hash_seed_value(data: bytes, seed: int) -> int:
    """FNV-1a 32 over the seed's 4 little-endian bytes, then ``data``."""
    return fnv1a32(data, fnv1a32(seed.to_bytes(4, "little")))


def hash_randomness(data: bytes, seed: int) -> int:
    """The 56-bit randomness Go derives from the hash: 14 bits of R' = 2^14-1-hashed
    (so that ``R' >= T'`` iff ``hashed < scaled rate``), 28 mixed unused bits, then hashed."""
    h32 = hash_seed_value(data, seed)
    hashed = h32 & _BUCKET_MASK
    unused18 = h32 >> NUM_HASH_BUCKETS_LG2
    mixed28 = (unused18 ^ (unused18 << 10)) & ((1 << 28) - 1)
    return ((NUM_HASH_BUCKETS - 1 - hashed) << 42) | (mixed28 << 14) | hashed


def hash_scaled_rate(percent: float) -> int:
    """``uint32(pct * 163.84)`` computed in float32 and truncated, as the Go code does."""
    pct = f32(min(percent, 100.0))
    return int(f32(pct * _SCALE_F32))


def hash_seed_threshold(scaled_rate: int) -> int:
    """The 56-bit threshold equivalent to a scaled rate, against ``hash_randomness``."""
    return (NUM_HASH_BUCKETS - scaled_rate) << 42


def hash_seed_sampled(trace_id: bytes, seed: int, percent: float) -> bool:
    """The legacy decision: low 14 hash bits below the scaled rate."""
    return (hash_seed_value(trace_id, seed) & _BUCKET_MASK) < hash_scaled_rate(percent)


# --- tail_sampling: probabilistic policy ------------------------------------------------------

DEFAULT_HASH_SALT = "default-hash-seed"


def salt_hash(salt: str) -> int:
    """FNV-1a 64 state after the salt (Go's default salt when empty); continue it over a trace id."""
    return fnv1a64((salt or DEFAULT_HASH_SALT).encode())


def ratio_threshold_u64(ratio: float) -> int:
    """``MaxUint64 * ratio`` as Go's big.Float computes it: product rounded to a
    64-bit mantissa (nearest even), then truncated to an integer."""
    exact = Fraction(_UINT64_MAX) * Fraction(ratio)
    if exact <= 0:
        return 0
    k = exact.numerator.bit_length() - exact.denominator.bit_length()
    while exact >= Fraction(1 << 64) * (Fraction(2) ** k):
        k += 1
    while exact < Fraction(1 << 63) * (Fraction(2) ** k):
        k -= 1
    mant = exact / (Fraction(2) ** k)  # in [2^63, 2^64)
    rounded = round(mant)  # Fraction rounds half to even
    value = Fraction(rounded) * (Fraction(2) ** k)
    return min(int(value), _UINT64_MAX)


def salted_hash_sampled(trace_id: bytes, salt_state: int, threshold: int) -> bool:
    """The tail sampler's decision: FNV-1a 64 over salt + trace id <= ``ratio_threshold_u64``."""
    return fnv1a64(trace_id, salt_state) <= threshold


# --- W3C tracestate with its OpenTelemetry ("ot") member -------------------------------------


class TraceStateError(ValueError):
    pass


_MAX_TRACESTATE_LENGTH = 1024
_MAX_MEMBERS = 32
_MAX_MEMBER_PART = 256
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_W3C_KEY_RE = re.compile(r"(?:[a-z][a-z0-9_\-*/]*|[a-z0-9][a-z0-9_\-*/]*@[a-z][a-z0-9_\-*/]*)")
_W3C_VALUE_RE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]*[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_OT_MEMBER_RE = re.compile(r"[a-z][a-z0-9]*:[a-zA-Z0-9._\-]*")


def tracestate_members(text: str) -> list[tuple[str, str]]:
    """The list-members of a W3C ``tracestate`` as (key, value) pairs, in order: optional
    white space trimmed, empty members skipped, sizes and key/value syntax checked.
    Raises TraceStateError."""
    if not text:
        return []
    if len(text) > _MAX_TRACESTATE_LENGTH:
        raise TraceStateError("invalid tracestate size")
    members = []
    for items, member in enumerate(text.split(","), 1):
        if items >= _MAX_MEMBERS:
            raise TraceStateError("invalid tracestate size")
        member = member.strip(" \t")
        if not member:
            continue
        key, eq, value = member.partition("=")
        if (
            not eq
            or not _W3C_KEY_RE.fullmatch(key)
            or len(value) > _MAX_MEMBER_PART
            or not _W3C_VALUE_RE.fullmatch(value)
        ):
            raise TraceStateError("invalid syntax")
        if len(key) > _MAX_MEMBER_PART:
            raise TraceStateError("invalid tracestate size")
        tenant, at, system = key.partition("@")
        if at and (len(tenant) > 241 or len(system) > 14):
            raise TraceStateError("invalid tracestate size")
        members.append((key, value))
    return members


class W3CTraceState:
    """A parsed ``tracestate``: the ``ot`` sub-keys ``rv`` / ``th`` parsed,
    every other member kept verbatim, serialized with ``ot`` first (as Go)."""

    __slots__ = ("rvalue", "rnd", "tvalue", "threshold", "ot_extra", "extra")

    def __init__(self):
        self.rvalue = ""  # original rv text (case kept) or ""
        self.rnd = 0
        self.tvalue = ""  # th text or ""
        self.threshold = ALWAYS_SAMPLE
        self.ot_extra: list[tuple[str, str]] = []
        self.extra: list[tuple[str, str]] = []

    @classmethod
    def parse(cls, text: str) -> W3CTraceState:
        """Parse; raises TraceStateError (with the partially parsed state on ``.state``
        when only the ``ot`` member is wrong)."""
        ts = cls()
        if not text:  # most spans: no call further
            return ts
        errors: list[str] = []
        for key, value in tracestate_members(text):
            if key == "ot":
                ts._parse_ot(value, errors)
            else:
                ts.extra.append((key, value))
        if errors:
            err = TraceStateError(errors[0])
            err.state = ts  # type: ignore[attr-defined]
            raise err
        return ts

    def _parse_ot(self, value: str, errors: list) -> None:
        if not value or value.endswith(";") or not all(_OT_MEMBER_RE.fullmatch(m) for m in value.split(";")):
            errors.append("invalid syntax")
            return
        for member in value.split(";"):
            key, _, val = member.partition(":")
            if key == "rv":
                if len(val) != 14:
                    self.rvalue, self.rnd = "", 0
                    errors.append("r-value must have 14 hex digits")
                elif not _HEX_RE.fullmatch(val):
                    self.rvalue, self.rnd = "", 0
                    errors.append("invalid syntax")
                else:
                    self.rvalue, self.rnd = val, int(val, 16)
            elif key == "th":
                if len(val) > _THRESHOLD_HEX_DIGITS:
                    self.tvalue, self.threshold = "", ALWAYS_SAMPLE
                    errors.append("t-value exceeds 14 hex digits")
                elif not val:
                    self.tvalue, self.threshold = "", ALWAYS_SAMPLE
                    errors.append("t-value is empty")
                elif not _HEX_RE.fullmatch(val):
                    self.tvalue, self.threshold = "", ALWAYS_SAMPLE
                    errors.append("invalid syntax")
                else:
                    self.tvalue, self.threshold = val, int(val, 16) << (4 * (_THRESHOLD_HEX_DIGITS - len(val)))
            else:
                self.ot_extra.append((key, val))

    def set_randomness(self, rnd: int) -> None:
        self.rnd, self.rvalue = rnd, _hex14(rnd)

    def clear_threshold(self) -> None:
        self.tvalue, self.threshold = "", ALWAYS_SAMPLE

    def update_threshold(self, th: int) -> bool:
        """Lower the sampling probability to ``th``; refuses (False) to raise it."""
        if self.tvalue and self.threshold > th:
            return False
        self.threshold = th
        self.tvalue = tvalue(th) if th < NEVER_SAMPLE else ""
        return True

    def serialize(self) -> str:
        ot = []
        if self.rvalue:
            ot.append("rv:" + self.rvalue)
        if self.tvalue:
            ot.append("th:" + self.tvalue)
        ot.extend(f"{k}:{v}" for k, v in self.ot_extra)
        members = ["ot=" + ";".join(ot)] if ot else []
        members.extend(f"{k}={v}" for k, v in self.extra)
        return ",".join(members)
