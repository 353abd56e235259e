"""One ordered walk over rows sorted by (key, something within the key) that merges entries
and common prefixes, seeking past each common prefix with a fresh index seek instead of
reading the rows under it. ListObjectVersions (versions newest first) and
ListMultipartUploads (uploads oldest first) page with it; ListObjects has its own walk over
latest versions only (listing.py)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from workers.meta import rules

Row = tuple[Any, ...]  # row[0] is the key


@dataclass(frozen=True, slots=True)
class Position:
    """Where a fetch starts: at `key` (inclusive or not) or, when `within` is set, after
    that point inside `key` (then on with the keys after it)."""

    key: str
    within: Any = None
    inclusive: bool = False


# Up to `limit` rows from a position, in listing order, never past the prefix's range. Rows
# are produced lazily (closed early when the walk seeks elsewhere), so a common prefix costs
# one row read, not the rows under it.
Fetch = Callable[[Position, int], Generator[Row, None, None]]


@dataclass(slots=True)
class Page:
    rows: list[Row] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last_key: str = ""  # the last entry returned: a row's key or a common prefix
    last_row: Row | None = None  # None when the last entry was a common prefix
    rows_read: int = 0


def walk(
    fetch: Fetch,
    *,
    start: Position,
    after: Callable[[Row], Position],
    prefix: str,
    delimiter: str,
    marker: str,
    max_items: int,
) -> Page:
    """At most `max_items` entries (rows and common prefixes together) from `start`. A
    common prefix at or before `marker` was returned by an earlier page and is skipped."""
    page = Page()
    position = start
    while True:
        limit = max_items - len(page.rows) - len(page.prefixes) + 1
        rows = fetch(position, limit)
        fetched = 0
        reseek: str | None = None
        try:
            for row in rows:
                fetched += 1
                page.rows_read += 1
                full = len(page.rows) + len(page.prefixes) == max_items
                rolled = rules.common_prefix(row[0], prefix, delimiter)
                if rolled is not None:
                    if rolled > marker:
                        if full:
                            page.truncated = True
                            return page
                        page.prefixes.append(rolled)
                        page.last_key, page.last_row = rolled, None
                    reseek = rules.successor(rolled)
                    if reseek is None:
                        return page
                    break
                if full:
                    page.truncated = True
                    return page
                page.rows.append(row)
                page.last_key, page.last_row = row[0], row
                position = after(row)
        finally:
            rows.close()
        if reseek is not None:
            position = Position(reseek, inclusive=True)
            continue
        if fetched < limit:
            return page
