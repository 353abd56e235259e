"""Run two steps of a stream at once (receive the next chunk while the last one is hashed and
written; read the next piece while the last one is sent), with plain exceptions out.

Neither step is cancelled when the other fails: a receive cut off mid-frame would leave the
channel out of sync, and a thread cut off mid-write would race with the temp file's removal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def overlap(main: Callable[[], Awaitable[T]], side: Callable[[], Awaitable[object]]) -> T:
    """Await `main()` and `side()` concurrently, both to completion; return main's result.

    If either raised, re-raise one error, unwrapped: main's first, since it is usually the
    one about the channel, which decides whether the connection survives.
    """
    side_error: list[Exception] = []

    async def run_side() -> None:
        try:
            await side()
        except Exception as exc:
            side_error.append(exc)

    main_error: Exception | None = None
    result: list[T] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_side)
        try:
            result.append(await main())
        except Exception as exc:
            main_error = exc
    if main_error is not None:
        raise main_error
    if side_error:
        raise side_error[0]
    return result[0]
