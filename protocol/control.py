"""alexanderctl <-> supervisor messages on the control socket.

One generic request (a verb and string arguments) keeps the CLI and the supervisor's
dispatch table the only places that know the verbs; the reply carries JSON-able data.
"""

from __future__ import annotations

from typing import Any

from protocol.base import Message


class CtlRequest(Message):
    verb: str  # "status", "user.create", "key.revoke", "gc.run", ...
    args: dict[str, str] = {}


class CtlReply(Message):
    data: Any = None
