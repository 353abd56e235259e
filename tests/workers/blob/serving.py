"""A blob worker served in the test's own event loop on a real Unix socket."""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from protocol.channel import Channel, connect_unix
from protocol.lifecycle import BootBlob
from tests.workers.blob.support import NODE
from workers.blob.server import serve_blob


@dataclass
class Served:
    boot: BootBlob
    base: Path

    async def connect(self) -> Channel:
        return await connect_unix(self.boot.socket_path)


@asynccontextmanager
async def serving(base: Path, *, index: int = 0, fsync: bool = True) -> AsyncIterator[Served]:
    # Unix socket paths are limited to 108 bytes; pytest's tmp_path can be longer.
    run_dir = tempfile.mkdtemp(prefix="axb-", dir="/tmp")
    boot = BootBlob(
        index=index, socket_path=f"{run_dir}/blob.sock", base_path=str(base), fsync=fsync
    )
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(functools.partial(serve_blob, boot, node=NODE))
            yield Served(boot, base)
            tg.cancel_scope.cancel()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
