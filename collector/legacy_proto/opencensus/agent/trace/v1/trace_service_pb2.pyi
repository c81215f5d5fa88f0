from otel_lite.collector.legacy_proto.opencensus.agent.common.v1 import common_pb2 as _common_pb2
from otel_lite.collector.legacy_proto.opencensus.resource.v1 import resource_pb2 as _resource_pb2
from otel_lite.collector.legacy_proto.opencensus.trace.v1 import trace_pb2 as _trace_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportTraceServiceRequest(_message.Message):
    __slots__ = ("node", "spans", "resource")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.Node
    spans: _containers.RepeatedCompositeFieldContainer[_trace_pb2.Span]
    resource: _resource_pb2.Resource
    def __init__(self, node: _Optional[_Union[_common_pb2.Node, _Mapping]] = ..., spans: _Optional[_Iterable[_Union[_trace_pb2.Span, _Mapping]]] = ..., resource: _Optional[_Union[_resource_pb2.Resource, _Mapping]] = ...) -> None: ...

class ExportTraceServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
