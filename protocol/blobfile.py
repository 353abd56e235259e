"""Reading one range of one stored blob, with blocking calls (callers run them in threads).

Both readers of the store use it: fronts serve GETs straight from the blob files (a round
trip to a blob worker and its wake-up cost more than the read itself; see bench/README.md),
and blob workers serve ReadBlob. Opening checks everything before a byte is promised: a
missing file is BlobMissing, a size other than the metadata's is BlobCorrupt, a range past
the end is InvalidRange; a file that shrinks under a read is BlobCorrupt too. OSError is left
to the caller, who knows what it was doing and reports it with `io_error`.
"""

from __future__ import annotations

import errno
import os

from protocol.errors import ProtocolError, RemoteError
from protocol.layout import blob_path, is_sha256


def io_error(exc: OSError, doing: str) -> RemoteError:
    """The RemoteError for an OS error met in the store while `doing` something (a verb
    phrase): InsufficientStorage for a full disk or quota, InternalError otherwise."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RemoteError(
            f"Not enough storage space to {doing}: {reason}.", code="InsufficientStorage"
        )
    return RemoteError(f"Blob store I/O error while trying to {doing}: {reason}.")


class BlobFile:
    """An open range [offset, offset + length) of a blob, read in pieces of `piece` bytes.

    The file is closed by the read that delivers its last byte, or by close()."""

    def __init__(
        self,
        base: str,
        sha256: str,
        *,
        offset: int = 0,
        length: int | None = None,
        expected_size: int | None = None,
        piece: int,
    ) -> None:
        if not is_sha256(sha256):
            raise ProtocolError(f"not a sha256 hex digest: {sha256!r}")
        if offset < 0 or (length is not None and length < 0):
            raise ProtocolError(f"blob range is negative (offset {offset}, length {length})")
        if expected_size is not None and expected_size < 0:
            raise ProtocolError(f"expected blob size is negative ({expected_size})")
        self.sha256 = sha256
        self._path = blob_path(base, sha256)
        self._offset = offset
        self._length = length
        self._expected_size = expected_size
        self._piece = piece
        self._fd: int | None = None
        self.length = 0  # bytes this read delivers, known once opened
        self._position = offset  # file offset of the next byte to deliver
        self._end = offset

    def open(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise RemoteError(
                f"blob {self.sha256} is missing from the store", code="BlobMissing"
            ) from None
        try:
            self._check(os.fstat(fd).st_size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def open_first(self) -> bytes | None:
        """open() and the first piece, in one call: a small read costs one thread hop."""
        self.open()
        return self.read_piece()

    def _check(self, size: int) -> None:
        sha, expected = self.sha256, self._expected_size
        if expected is not None and size != expected:
            raise RemoteError(
                f"blob {sha} has {size} bytes on disk, its metadata says {expected}",
                {"sha256": sha, "size": str(size), "expected_size": str(expected)},
                code="BlobCorrupt",
            )
        offset = self._offset
        length = size - offset if self._length is None else self._length
        if offset > size or offset + length > size:
            raise RemoteError(
                f"range of {length} bytes at offset {offset} is outside blob {sha} ({size} bytes)",
                code="InvalidRange",
            )
        self.length = length
        self._end = offset + length

    @property
    def done(self) -> bool:
        return self._position >= self._end

    def read_piece(self) -> bytes | None:
        """The next piece, or None after the last one (the file is then closed)."""
        fd = self._fd
        if self._position >= self._end or fd is None:
            self.close()
            return None
        want = min(self._piece, self._end - self._position)
        piece = os.pread(fd, want, self._position)
        if len(piece) != want:
            self.close()
            raise RemoteError(
                f"blob {self.sha256} ended at byte {self._position + len(piece)} "
                f"while reading up to byte {self._end}; it was truncated or replaced",
                code="BlobCorrupt",
            )
        self._position += want
        if self._position >= self._end:
            self.close()  # in the same thread hop as the last read
        return piece

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass  # a read-only descriptor: nothing was lost
