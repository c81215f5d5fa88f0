"""Split a trace request by backend: each span goes where its routing key hashes.

Only what routing reads is parsed (``partial_otlp`` views: the trace id of
each span, or the resource for ``service``); everything else stays unknown
bytes and is written back untouched.  A request whose spans all belong to one
backend is forwarded as the bytes it arrived in.
"""

from __future__ import annotations

from collections.abc import Callable

from ...consumer import Traces
from ...partial_otlp import trace_request_view
from .ring import HashRing

__all__ = ["ROUTING_KEYS", "route"]

_TRACE_ID_VIEW = trace_request_view(frozenset({"trace_id"}))
_RESOURCE_VIEW = trace_request_view(frozenset(), with_envelopes=True)


def _service_key(resource) -> bytes:
    for kv in resource.attributes:
        if kv.key == "service.name":
            # Go hashes "service.name=<value>|" since contrib PR #46420 (2026); older Go hashed the bare value
            return f"service.name={kv.value.string_value}|".encode()
    return b"service.name=|"


def _by_trace_id(traces: Traces, ring: HashRing) -> dict[str, Traces]:
    request = _TRACE_ID_VIEW.FromString(traces.to_bytes())
    lookup = ring.endpoint_for
    # first pass: owners only (one ring lookup per trace, not per span); a request that goes to one
    # backend needs no second pass
    owners_per_scope: list[list[list[str]]] = []
    seen: set[str] = set()
    for rs in request.resource_spans:
        per_rs = []
        for ss in rs.scope_spans:
            ids = [span.trace_id for span in ss.spans]
            owner_of = {tid: lookup(tid) for tid in set(ids)}
            owners = [owner_of[tid] for tid in ids]
            seen.update(owner_of.values())
            per_rs.append(owners)
        owners_per_scope.append(per_rs)
    if len(seen) <= 1:
        return {seen.pop(): traces} if seen else {}
    out: dict[str, object] = {}
    counts: dict[str, int] = {}
    for rs, per_rs in zip(request.resource_spans, owners_per_scope, strict=True):
        rs_shell = None
        out_rs: dict[str, object] = {}
        for ss, owners in zip(rs.scope_spans, per_rs, strict=True):
            groups: dict[str, list[int]] = {}
            for i, owner in enumerate(owners):
                groups.setdefault(owner, []).append(i)
            ss_shell = None
            for owner, idxs in groups.items():
                target_rs = out_rs.get(owner)
                if target_rs is None:
                    if rs_shell is None:
                        rs_shell = type(rs)()
                        rs_shell.CopyFrom(rs)
                        del rs_shell.scope_spans[:]
                    req = out.get(owner)
                    if req is None:
                        req = out[owner] = _TRACE_ID_VIEW()
                    target_rs = out_rs[owner] = req.resource_spans.add()  # type: ignore[attr-defined]
                    target_rs.CopyFrom(rs_shell)
                if len(idxs) == len(owners):  # the whole scope goes one way
                    target_rs.scope_spans.add().CopyFrom(ss)  # type: ignore[attr-defined]
                else:
                    if ss_shell is None:
                        ss_shell = type(ss)()
                        ss_shell.CopyFrom(ss)
                        del ss_shell.spans[:]
                    target_ss = target_rs.scope_spans.add()  # type: ignore[attr-defined]
                    target_ss.CopyFrom(ss_shell)
                    spans, add = ss.spans, target_ss.spans.add
                    for i in idxs:
                        add().CopyFrom(spans[i])
                counts[owner] = counts.get(owner, 0) + len(idxs)
    return {
        owner: Traces(None, req.SerializeToString(), counts[owner])  # type: ignore[attr-defined]
        for owner, req in out.items()
    }


def _by_service(traces: Traces, ring: HashRing) -> dict[str, Traces]:
    request = _RESOURCE_VIEW.FromString(traces.to_bytes())
    owners = [ring.endpoint_for(_service_key(rs.resource)) for rs in request.resource_spans]
    if len(set(owners)) <= 1:
        return {owners[0]: traces} if owners else {}
    out: dict[str, object] = {}
    counts: dict[str, int] = {}
    for rs, owner in zip(request.resource_spans, owners, strict=True):
        req = out.get(owner)
        if req is None:
            req = out[owner] = _RESOURCE_VIEW()
        req.resource_spans.add().CopyFrom(rs)  # type: ignore[attr-defined]
        counts[owner] = counts.get(owner, 0) + sum(len(ss.spans) for ss in rs.scope_spans)
    return {
        owner: Traces(None, req.SerializeToString(), counts[owner])  # type: ignore[attr-defined]
        for owner, req in out.items()
    }


ROUTING_KEYS: dict[str, Callable[[Traces, HashRing], dict[str, Traces]]] = {
    "traceID": _by_trace_id,
    "service": _by_service,
}


def route(traces: Traces, ring: HashRing, routing_key: str = "traceID") -> dict[str, Traces]:
    """{endpoint: the part of ``traces`` it owns}; raises LookupError on an empty ring."""
    return ROUTING_KEYS[routing_key](traces, ring)
