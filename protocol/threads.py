"""Blocking calls (files, sqlite) in worker threads, for the cost of one hop.

Every process makes about one such call per request: a front opening a blob, a blob worker
installing an upload, meta reading sqlite. anyio.to_thread.run_sync measured 77 us of CPU
per call on the 2-core box (capacity limiter, cancel scope, per-call bookkeeping), asyncio's
executor 34 us; so on asyncio a pool runs the calls through `loop.run_in_executor`, and on
trio they go through anyio as before. Either way the call is never abandoned: a caller that
is cancelled still waits for its call to finish (a descriptor opened in the thread always
reaches the code that closes it), as with anyio's default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
import anyio.to_thread
import sniffio

T = TypeVar("T")


class ThreadPool:
    """At most `size` threads, started on first use and kept for the life of the process."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if sniffio.current_async_library() == "asyncio":
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.size, thread_name_prefix=self._name)
            future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
            with anyio.CancelScope(shield=True):
                return await future
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def shutdown(self) -> None:
        """Let idle threads go (calls in progress finish first); the pool restarts on use."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
