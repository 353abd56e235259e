"""The base of every message: a tagged msgspec Struct carrying the request id.

Schema evolution: new fields get defaults; nothing is reordered or retyped.
"""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct, tag=True, kw_only=True, omit_defaults=True):
    # The request id ties log lines of every process to one client request.
    rid: str = ""


class ErrorReply(Message):
    code: str
    message: str
    details: dict[str, str] = {}


class Done(Message):
    """Reply to a request that has nothing to return."""
