"""One typed encoder/decoder for every message of every channel.

The decoder knows the whole tagged union, so a frame decodes straight into its Struct
class (or fails with ProtocolError); handlers dispatch on the class with `match`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from protocol import blob, control, lifecycle, meta
from protocol.base import Done, ErrorReply, Message
from protocol.errors import ProtocolError


def _all_messages() -> tuple[type[Message], ...]:
    found: list[type[Message]] = [ErrorReply, Done]
    for module in (lifecycle, blob, meta, control):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Message)
                and value is not Message
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return tuple(found)


MESSAGES = _all_messages()
AnyMessage: Any = MESSAGES[0]
for _cls in MESSAGES[1:]:
    AnyMessage = AnyMessage | _cls

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(AnyMessage)


def encode(msg: Message) -> bytes:
    return _encoder.encode(msg)


def decode(payload: bytes | memoryview) -> Message:
    try:
        return _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"undecodable message: {exc}") from None
