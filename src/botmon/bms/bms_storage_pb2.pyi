from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DisconnectReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISCONNECT_REASON_UNSPECIFIED: _ClassVar[DisconnectReason]
    DISCONNECT_REASON_FINISHED: _ClassVar[DisconnectReason]
    DISCONNECT_REASON_BE_RIGHT_BACK: _ClassVar[DisconnectReason]
    DISCONNECT_REASON_BE_RIGHT_BACK_WITH_NEW_CONFIG: _ClassVar[DisconnectReason]
    DISCONNECT_REASON_CLIENT_ERROR: _ClassVar[DisconnectReason]
    DISCONNECT_REASON_OTHER: _ClassVar[DisconnectReason]
DISCONNECT_REASON_UNSPECIFIED: DisconnectReason
DISCONNECT_REASON_FINISHED: DisconnectReason
DISCONNECT_REASON_BE_RIGHT_BACK: DisconnectReason
DISCONNECT_REASON_BE_RIGHT_BACK_WITH_NEW_CONFIG: DisconnectReason
DISCONNECT_REASON_CLIENT_ERROR: DisconnectReason
DISCONNECT_REASON_OTHER: DisconnectReason

class Timestamp(_message.Message):
    __slots__ = ("unix_seconds", "unix_nano_seconds")
    UNIX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UNIX_NANO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    unix_seconds: int
    unix_nano_seconds: int
    def __init__(self, unix_seconds: _Optional[int] = ..., unix_nano_seconds: _Optional[int] = ...) -> None: ...

class IPv4Address(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: int
    def __init__(self, address: _Optional[int] = ...) -> None: ...

class IPv6Address(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    def __init__(self, address: _Optional[bytes] = ...) -> None: ...

class IPAddress(_message.Message):
    __slots__ = ("v4", "v6")
    V4_FIELD_NUMBER: _ClassVar[int]
    V6_FIELD_NUMBER: _ClassVar[int]
    v4: IPv4Address
    v6: IPv6Address
    def __init__(self, v4: _Optional[_Union[IPv4Address, _Mapping]] = ..., v6: _Optional[_Union[IPv6Address, _Mapping]] = ...) -> None: ...

class Port(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: int
    def __init__(self, port: _Optional[int] = ...) -> None: ...

class JSON(_message.Message):
    __slots__ = ("json_string",)
    JSON_STRING_FIELD_NUMBER: _ClassVar[int]
    json_string: str
    def __init__(self, json_string: _Optional[str] = ...) -> None: ...

class SessionToken(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: bytes
    def __init__(self, token: _Optional[bytes] = ...) -> None: ...

class RegisterSessionRequest(_message.Message):
    __slots__ = ("botnet_id", "campaign_id", "frequency", "public_ip", "monitor_port", "config_json")
    BOTNET_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_IP_FIELD_NUMBER: _ClassVar[int]
    MONITOR_PORT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    botnet_id: str
    campaign_id: str
    frequency: int
    public_ip: IPAddress
    monitor_port: Port
    config_json: JSON
    def __init__(self, botnet_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., frequency: _Optional[int] = ..., public_ip: _Optional[_Union[IPAddress, _Mapping]] = ..., monitor_port: _Optional[_Union[Port, _Mapping]] = ..., config_json: _Optional[_Union[JSON, _Mapping]] = ...) -> None: ...

class RegisterSessionResponse(_message.Message):
    __slots__ = ("session_token", "session_timeout", "last_inserted_bot_reply", "last_inserted_failed_try", "last_inserted_edge")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    LAST_INSERTED_BOT_REPLY_FIELD_NUMBER: _ClassVar[int]
    LAST_INSERTED_FAILED_TRY_FIELD_NUMBER: _ClassVar[int]
    LAST_INSERTED_EDGE_FIELD_NUMBER: _ClassVar[int]
    session_token: SessionToken
    session_timeout: int
    last_inserted_bot_reply: Timestamp
    last_inserted_failed_try: Timestamp
    last_inserted_edge: Timestamp
    def __init__(self, session_token: _Optional[_Union[SessionToken, _Mapping]] = ..., session_timeout: _Optional[int] = ..., last_inserted_bot_reply: _Optional[_Union[Timestamp, _Mapping]] = ..., last_inserted_failed_try: _Optional[_Union[Timestamp, _Mapping]] = ..., last_inserted_edge: _Optional[_Union[Timestamp, _Mapping]] = ...) -> None: ...

class DatedBotReply(_message.Message):
    __slots__ = ("timestamp", "bot_id", "ip", "port", "other_data")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    BOT_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    OTHER_DATA_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    bot_id: str
    ip: IPAddress
    port: Port
    other_data: JSON
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., bot_id: _Optional[str] = ..., ip: _Optional[_Union[IPAddress, _Mapping]] = ..., port: _Optional[_Union[Port, _Mapping]] = ..., other_data: _Optional[_Union[JSON, _Mapping]] = ...) -> None: ...

class DatedFailedTry(_message.Message):
    __slots__ = ("timestamp", "bot_id", "ip", "port", "reason", "other_data")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    BOT_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OTHER_DATA_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    bot_id: str
    ip: IPAddress
    port: Port
    reason: str
    other_data: JSON
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., bot_id: _Optional[str] = ..., ip: _Optional[_Union[IPAddress, _Mapping]] = ..., port: _Optional[_Union[Port, _Mapping]] = ..., reason: _Optional[str] = ..., other_data: _Optional[_Union[JSON, _Mapping]] = ...) -> None: ...

class DatedEdge(_message.Message):
    __slots__ = ("timestamp", "src_bot_id", "src_ip", "src_port", "dst_bot_id", "dst_ip", "dst_port")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SRC_BOT_ID_FIELD_NUMBER: _ClassVar[int]
    SRC_IP_FIELD_NUMBER: _ClassVar[int]
    SRC_PORT_FIELD_NUMBER: _ClassVar[int]
    DST_BOT_ID_FIELD_NUMBER: _ClassVar[int]
    DST_IP_FIELD_NUMBER: _ClassVar[int]
    DST_PORT_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    src_bot_id: str
    src_ip: IPAddress
    src_port: Port
    dst_bot_id: str
    dst_ip: IPAddress
    dst_port: Port
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., src_bot_id: _Optional[str] = ..., src_ip: _Optional[_Union[IPAddress, _Mapping]] = ..., src_port: _Optional[_Union[Port, _Mapping]] = ..., dst_bot_id: _Optional[str] = ..., dst_ip: _Optional[_Union[IPAddress, _Mapping]] = ..., dst_port: _Optional[_Union[Port, _Mapping]] = ...) -> None: ...

class StoreDatedBotReplyBatchRequest(_message.Message):
    __slots__ = ("batch_id", "replies")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    replies: _containers.RepeatedCompositeFieldContainer[DatedBotReply]
    def __init__(self, batch_id: _Optional[int] = ..., replies: _Optional[_Iterable[_Union[DatedBotReply, _Mapping]]] = ...) -> None: ...

class StoreDatedBotReplyBatchResponse(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    def __init__(self, batch_id: _Optional[int] = ...) -> None: ...

class StoreDatedFailedTryBatchRequest(_message.Message):
    __slots__ = ("batch_id", "tries")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TRIES_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    tries: _containers.RepeatedCompositeFieldContainer[DatedFailedTry]
    def __init__(self, batch_id: _Optional[int] = ..., tries: _Optional[_Iterable[_Union[DatedFailedTry, _Mapping]]] = ...) -> None: ...

class StoreDatedFailedTryBatchResponse(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    def __init__(self, batch_id: _Optional[int] = ...) -> None: ...

class StoreDatedEdgeBatchRequest(_message.Message):
    __slots__ = ("batch_id", "edges")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    edges: _containers.RepeatedCompositeFieldContainer[DatedEdge]
    def __init__(self, batch_id: _Optional[int] = ..., edges: _Optional[_Iterable[_Union[DatedEdge, _Mapping]]] = ...) -> None: ...

class StoreDatedEdgeBatchResponse(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    def __init__(self, batch_id: _Optional[int] = ...) -> None: ...

class DisconnectRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: DisconnectReason
    def __init__(self, reason: _Optional[_Union[DisconnectReason, str]] = ...) -> None: ...

class DisconnectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
