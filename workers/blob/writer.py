"""One upload in progress: hash and write the body as it arrives, verify what the client
declared, then install the blob durably; on any failure leave nothing behind.

    async with Upload(store, put) as upload:     # rejects malformed declarations at once
        await upload.receive(next_chunk)          # until next_chunk() returns None
        stored = await upload.commit(trailer)     # verify, fsync, rename, dir fsync

Nothing is hashed or written on the event loop. Chunks are gathered into batches of at least
BATCH bytes, and each batch is hashed and written in a worker thread while the next one is
received; at most one batch is in flight, so memory stays near two batches per upload
whatever the frame size. The last, partial batch is hashed, verified, written and installed
in the single thread hop of `commit`, so a small upload costs exactly one hop (and one
verified wrong is refused before its temp file is even created).

Measured on the 2-core box: splitting MD5 into a second thread beside SHA-256 + write cost
0.5 ms of CPU per MiB more and was only faster when a core sat idle, which it does not while
the front is streaming the same body; so one thread per upload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
import anyio.abc

from protocol.blob import BlobStored, PutBlob
from protocol.logs import get_logger
from workers.blob.checksum import BodyHasher
from workers.blob.store import IO_THREADS, BlobStore, run_io, write_all
from workers.blob.verify import Expectations

log = get_logger(__name__)

# Threads get work in pieces at least this large: one hop per MiB, not per frame.
BATCH = 1024 * 1024

NextChunk = Callable[[], Awaitable[bytes | None]]


class _Batch:
    """Chunks handed to a thread together, to hash and write."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0


class Upload:
    """One PutBlob's body on its way into the store (see the module docstring for use)."""

    def __init__(self, store: BlobStore, put: PutBlob) -> None:
        self._store = store
        self._rid = put.rid
        self._expect = Expectations(put)
        self._hasher = BodyHasher(self._expect.algorithms)
        self._received = 0
        self._batch = _Batch()
        # The batch in threads: done when set; its failure, if any.
        self._idle = anyio.Event()
        self._idle.set()
        self._failure: Exception | None = None
        # Set by threads, read by the event loop only while no batch is in flight.
        self._fd: int | None = None
        self._tmp: str | None = None
        self._installed = False

    async def __aenter__(self) -> Upload:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._installed:
            await self.discard()

    async def discard(self) -> None:
        """Close and remove the temp file, if any; safe to call more than once."""
        fd, tmp = self._fd, self._tmp
        self._fd = self._tmp = None
        self._batch = _Batch()
        if fd is None and tmp is None:
            return
        # Shielded: a cancelled upload must still clean up after itself.
        with anyio.CancelScope(shield=True):
            try:
                await IO_THREADS.run(self._store.discard_temp, fd, tmp)
            except OSError as exc:
                log.error("removing a temp file failed", path=tmp, error=str(exc), rid=self._rid)

    # -- the body ---------------------------------------------------------------

    async def receive(self, next_chunk: NextChunk) -> None:
        """Consume the body: call `next_chunk` until it returns None.

        Raises IncompleteBody as soon as the body runs past its announced size, and the
        storage errors of writing (stopping early); the caller then still owns the rest of
        the body's frames.
        """
        loop_error: Exception | None = None
        async with anyio.create_task_group() as tg:
            try:
                await self._receive_all(next_chunk, tg)
            except Exception as exc:
                loop_error = exc
        # The task group waited for the batch in flight, so its outcome is known.
        if loop_error is not None:
            raise loop_error
        self._raise_failure()

    async def _receive_all(self, next_chunk: NextChunk, tg: anyio.abc.TaskGroup) -> None:
        while (chunk := await next_chunk()) is not None:
            self._received += len(chunk)
            self._expect.check_running_size(self._received)
            batch = self._batch
            batch.chunks.append(chunk)
            batch.size += len(chunk)
            if batch.size >= BATCH:
                await self._idle.wait()
                self._raise_failure()
                self._batch = _Batch()
                self._idle = anyio.Event()
                tg.start_soon(self._absorb, batch, self._idle)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _absorb(self, batch: _Batch, idle: anyio.Event) -> None:
        try:
            await run_io("write the upload", self._hash_and_write, batch)
        except Exception as exc:
            self._failure = exc
        finally:
            idle.set()

    def _hash_and_write(self, batch: _Batch) -> None:
        for chunk in batch.chunks:
            self._hasher.update(chunk)
        self._write(batch.chunks)

    def _write(self, buffers: list[bytes]) -> None:
        if self._fd is None:
            self._fd, self._tmp = self._store.create_temp()
        write_all(self._fd, buffers)

    # -- the end ----------------------------------------------------------------

    async def commit(self, trailer_checksums: dict[str, str] | None = None) -> BlobStored:
        """Verify the body against every declaration, then install it durably."""
        batch, self._batch = self._batch, _Batch()
        # One hop: the last batch is hashed, verified and written in the same thread.
        await run_io("store the upload", self._finish, batch, trailer_checksums or {})
        return BlobStored(
            rid=self._rid,
            sha256=self._hasher.sha256_hex(),
            md5=self._hasher.md5_hex(),
            size=self._hasher.size,
            checksums=self._hasher.checksums(),
        )

    def _finish(self, batch: _Batch, trailer: dict[str, str]) -> None:
        for chunk in batch.chunks:
            self._hasher.update(chunk)
        self._expect.verify(self._hasher, trailer)
        self._write(batch.chunks)
        fd, tmp = self._fd, self._tmp
        assert fd is not None and tmp is not None  # _write created them
        self._fd = None  # install closes it, even when it fails
        self._store.install(fd, tmp, self._hasher.sha256_hex())
        self._tmp = None
        self._installed = True
