"""Errors that cross process boundaries.

A handler anywhere raises `RemoteError(code, message)`; the channel sends it as an
`ErrorReply` and the receiving side rebuilds it as the registered class for that code, so
`except NoSuchKey` works in the front for an error raised in the meta process.
"""

from __future__ import annotations

from typing import ClassVar


class RemoteError(Exception):
    """An error with a stable code, safe to send to another process."""

    code: ClassVar[str] = "InternalError"
    _registry: ClassVar[dict[str, type[RemoteError]]] = {}

    def __init__(
        self, message: str = "", details: dict[str, str] | None = None, *, code: str | None = None
    ) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = dict(details or {})
        # Instances of the generic class may carry any code (an S3 code the front knows).
        self.error_code = code or type(self).code

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        RemoteError._registry[cls.code] = cls

    @staticmethod
    def rebuild(code: str, message: str, details: dict[str, str]) -> RemoteError:
        cls = RemoteError._registry.get(code, RemoteError)
        if cls is RemoteError:
            return RemoteError(message, details, code=code)
        return cls(message, details)


class ProtocolError(RemoteError):
    """The peer broke framing or sent an undecodable or unexpected message."""

    code = "ProtocolError"


class Unavailable(RemoteError):
    """A process or dependency that the request needs is not reachable right now."""

    code = "ServiceUnavailable"
