"""The content-addressed blob store on disk: its directories, the durable install of a finished
temp file (fsync, rename onto its address, directory fsync), and range reads.

Every blocking call here runs in a worker thread (`run_io`), never on the event loop. OS
errors leave as RemoteError: InsufficientStorage for a full disk or quota, InternalError
otherwise. Uploads in progress live in `workers.blob.writer`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

import anyio

from protocol.blob import ReadBlob
from protocol.blobfile import BlobFile, io_error
from protocol.errors import RemoteError
from protocol.frame import DATA_CHUNK
from protocol.layout import blob_path, quarantine_dir, tmp_dir, tmp_prefix
from protocol.logs import get_logger
from protocol.threads import ThreadPool

T = TypeVar("T")
# Every blocking file call of the worker: at least one per upload and per read.
IO_THREADS = ThreadPool(32, "blob-io")
log = get_logger(__name__)

# Reads are served in pieces of one frame each: memory stays flat whatever the range.
READ_PIECE = DATA_CHUNK
_DIR_MODE = 0o750
_IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 1024
Buffer = bytes | bytearray | memoryview


async def run_io(doing: str, fn: Callable[..., T], *args: object) -> T:
    """Run blocking file work in a thread; OSError becomes the matching RemoteError."""
    try:
        return await IO_THREADS.run(fn, *args)
    except OSError as exc:
        raise io_error(exc, doing) from exc


def write_all(fd: int, buffers: Sequence[Buffer]) -> None:
    """Write every buffer, in order, with as few syscalls as the kernel allows."""
    views = [memoryview(b) for b in buffers if len(b)]
    while views:
        # A batch of tiny frames can hold more buffers than one writev takes (EINVAL).
        written = os.writev(fd, views[:_IOV_MAX])
        while written:
            if written >= len(views[0]):
                written -= len(views.pop(0))
            else:
                views[0] = views[0][written:]
                written = 0


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """One worker's view of a data directory. Safe to share between tasks and threads."""

    def __init__(self, base: str, *, node: str, index: int, fsync: bool = True) -> None:
        self.base = base
        self.fsync = fsync
        self.blobs_dir = os.path.join(base, "blobs")
        self.tmp_dir = tmp_dir(base)
        self.tmp_prefix = tmp_prefix(node, index)
        # Directories whose entry in their parent is known durable. A shard made by another
        # worker may not be fsynced yet when we first rename into it, so we fsync its parent
        # once ourselves before trusting it.
        self._durable_dirs: set[str] = set()

    # -- start-up -------------------------------------------------------------

    def prepare(self) -> int:
        """Create blobs/, tmp/ and quarantine/ if missing and remove this worker's leftover
        temp files; return how many were removed. Blocking: call it in a thread."""
        if not os.path.isdir(self.base):
            # Not created here: a missing data dir is usually an unmounted disk.
            raise RemoteError(f"data directory {self.base!r} does not exist or is not a directory")
        created = False
        for path in (self.blobs_dir, self.tmp_dir, quarantine_dir(self.base)):
            try:
                os.mkdir(path, _DIR_MODE)
                created = True
            except FileExistsError:
                if not os.path.isdir(path):
                    raise RemoteError(f"{path!r} exists but is not a directory") from None
        if os.stat(self.blobs_dir).st_dev != os.stat(self.tmp_dir).st_dev:
            raise RemoteError(
                f"{self.tmp_dir!r} and {self.blobs_dir!r} are on different filesystems; "
                "a temp file could not be renamed onto its address atomically"
            )
        if created and self.fsync:
            fsync_dir(self.base)
        self._durable_dirs.add(self.blobs_dir)
        removed = 0
        with os.scandir(self.tmp_dir) as entries:
            for entry in entries:
                if entry.name.startswith(self.tmp_prefix) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
        if removed and self.fsync:
            fsync_dir(self.tmp_dir)
        return removed

    # -- writes (blocking helpers, run in threads by the writer) -----------------

    def create_temp(self) -> tuple[int, str]:
        """A new temp file (mode 0600) in tmp/, named with this worker's prefix."""
        return tempfile.mkstemp(prefix=self.tmp_prefix, dir=self.tmp_dir)

    def install(self, fd: int, tmp_path: str, sha256: str) -> None:
        """Make a fully written temp file the blob `sha256`, durably; closes `fd`.

        Replacing an existing blob of the same address is intended: the content is the same
        by construction, and a damaged copy gets healed.
        """
        try:
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        final = blob_path(self.base, sha256)
        shard = os.path.dirname(final)
        self._ensure_dir(shard)
        try:
            os.replace(tmp_path, final)
        except FileNotFoundError:
            # Our temp file exists, so the shard went away since we cached it (an empty
            # shard pruned by another process): make it again, once.
            self._durable_dirs.difference_update({shard, os.path.dirname(shard)})
            self._ensure_dir(shard)
            os.replace(tmp_path, final)
        if self.fsync:
            fsync_dir(shard)

    def _ensure_dir(self, path: str) -> None:
        if path in self._durable_dirs:
            return
        parent = os.path.dirname(path)
        self._ensure_dir(parent)
        try:
            os.mkdir(path, _DIR_MODE)
        except FileExistsError:
            pass
        if self.fsync:
            fsync_dir(parent)
        self._durable_dirs.add(path)

    @staticmethod
    def discard_temp(fd: int | None, tmp_path: str | None) -> None:
        """Close and remove a temp file; what is already gone is fine."""
        if fd is not None:
            try:
                os.close(fd)
            except OSError as exc:
                log.warning("closing a temp file failed", path=tmp_path, error=str(exc))
        if tmp_path is not None:
            try:
                os.unlink(tmp_path)
            except FileNotFoundError:
                pass

    # -- reads -------------------------------------------------------------------

    def open_read(self, req: ReadBlob) -> BlobReader:
        return BlobReader(self, req)


class BlobReader:
    """One range of one blob (protocol.blobfile.BlobFile), read in READ_PIECE pieces in threads.

    Use as `async with store.open_read(req) as blob:`; entering opens the file and checks it
    (BlobMissing, BlobCorrupt, InvalidRange) before any byte is promised, and reads the first
    piece in the same thread hop, so a small read costs one hop.
    """

    def __init__(self, store: BlobStore, req: ReadBlob) -> None:
        self._file = BlobFile(
            store.base,
            req.sha256,
            offset=req.offset,
            length=req.length,
            expected_size=req.expected_size,
            piece=READ_PIECE,
        )
        self._first: bytes | None = None

    @property
    def length(self) -> int:
        """Bytes this read delivers (known once entered)."""
        return self._file.length

    async def __aenter__(self) -> BlobReader:
        self._first = await run_io("open a blob", self._file.open_first)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._file.done:
            with anyio.CancelScope(shield=True):
                await IO_THREADS.run(self._file.close)

    async def next_piece(self) -> bytes | None:
        """The next piece of the range, or None after the last one."""
        if self._first is not None:
            piece, self._first = self._first, None
            return piece
        if self._file.done:
            return None
        return await run_io("read a blob", self._file.read_piece)
