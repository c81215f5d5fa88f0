import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Node(_message.Message):
    __slots__ = ("identifier", "library_info", "service_info", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_INFO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    identifier: ProcessIdentifier
    library_info: LibraryInfo
    service_info: ServiceInfo
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, identifier: _Optional[_Union[ProcessIdentifier, _Mapping]] = ..., library_info: _Optional[_Union[LibraryInfo, _Mapping]] = ..., service_info: _Optional[_Union[ServiceInfo, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProcessIdentifier(_message.Message):
    __slots__ = ("host_name", "pid", "start_timestamp")
    HOST_NAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    START_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    host_name: str
    pid: int
    start_timestamp: _timestamp_pb2.Timestamp
    def __init__(self, host_name: _Optional[str] = ..., pid: _Optional[int] = ..., start_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LibraryInfo(_message.Message):
    __slots__ = ("language", "exporter_version", "core_library_version")
    class Language(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        LANGUAGE_UNSPECIFIED: _ClassVar[LibraryInfo.Language]
        CPP: _ClassVar[LibraryInfo.Language]
        C_SHARP: _ClassVar[LibraryInfo.Language]
        ERLANG: _ClassVar[LibraryInfo.Language]
        GO_LANG: _ClassVar[LibraryInfo.Language]
        JAVA: _ClassVar[LibraryInfo.Language]
        NODE_JS: _ClassVar[LibraryInfo.Language]
        PHP: _ClassVar[LibraryInfo.Language]
        PYTHON: _ClassVar[LibraryInfo.Language]
        RUBY: _ClassVar[LibraryInfo.Language]
        WEB_JS: _ClassVar[LibraryInfo.Language]
    LANGUAGE_UNSPECIFIED: LibraryInfo.Language
    CPP: LibraryInfo.Language
    C_SHARP: LibraryInfo.Language
    ERLANG: LibraryInfo.Language
    GO_LANG: LibraryInfo.Language
    JAVA: LibraryInfo.Language
    NODE_JS: LibraryInfo.Language
    PHP: LibraryInfo.Language
    PYTHON: LibraryInfo.Language
    RUBY: LibraryInfo.Language
    WEB_JS: LibraryInfo.Language
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    EXPORTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CORE_LIBRARY_VERSION_FIELD_NUMBER: _ClassVar[int]
    language: LibraryInfo.Language
    exporter_version: str
    core_library_version: str
    def __init__(self, language: _Optional[_Union[LibraryInfo.Language, str]] = ..., exporter_version: _Optional[str] = ..., core_library_version: _Optional[str] = ...) -> None: ...

class ServiceInfo(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
