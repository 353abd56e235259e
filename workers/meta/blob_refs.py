"""Blob reference rules every engine applies inside its write transaction: counting an
object's references per blob, and deciding whether a blob may be referenced (the revival
rule: a blob row created or revived from refcount 0 needs its file on disk, because GC may
have removed it; a known blob must have the referenced size)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable

from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.meta import BlobRef
from workers.meta.rules import error

# sha256 -> (size, references)
Tally = dict[str, tuple[int, int]]
# (sha256, size, references to add, whether a row exists)
Plan = list[tuple[str, int, int, bool]]


def tally(refs: list[BlobRef]) -> Tally:
    """sha256 -> (size, references): an object may list one blob several times (identical
    parts), and each listing is one reference."""
    counts = Counter(ref.sha256 for ref in refs)
    sizes: dict[str, int] = {}
    for ref in refs:
        known = sizes.setdefault(ref.sha256, ref.size)
        if known != ref.size:
            raise error(
                "InvalidArgument",
                f"blob {ref.sha256} is listed with two different sizes ({known}, {ref.size})",
            )
    return {sha: (sizes[sha], count) for sha, count in counts.items()}


def held(rows: Iterable[tuple[str, int]]) -> Tally:
    """The references held by rows of (sha256, size), one each (parts being released)."""
    result: Tally = {}
    for sha256, size in rows:
        result[sha256] = (size, result.get(sha256, (size, 0))[1] + 1)
    return result


def check_on_disk(base: str, sha256: str, size: int) -> None:
    """BlobMissing unless the blob's file is in the store with `size` bytes."""
    path = blob_path(base, sha256)
    try:
        found = os.stat(path).st_size
    except FileNotFoundError:
        raise error(
            "BlobMissing", f"blob {sha256} is not in the store (collected or never written)"
        ) from None
    if found != size:
        raise error(
            "BlobMissing", f"blob {sha256} on disk has {found} bytes, the reference says {size}"
        )


def on_disk(base: str, sha256: str, size: int) -> bool:
    try:
        check_on_disk(base, sha256, size)
    except RemoteError:
        return False
    return True


def plan_one(
    base: str, sha256: str, size: int, count: int, row: tuple[int, int] | None
) -> tuple[str, int, int, bool]:
    """The plan entry for `count` new references to a blob whose row is `row` = (size,
    refcount) or None, after checking it may be referenced."""
    if row is None:
        check_on_disk(base, sha256, size)
        return (sha256, size, count, False)
    known_size, refcount = row
    if known_size != size:
        raise error(
            "BlobSizeMismatch",
            f"blob {sha256} is recorded with {known_size} bytes but referenced with {size}",
        )
    if refcount == 0:
        check_on_disk(base, sha256, size)
    return (sha256, size, count, True)
