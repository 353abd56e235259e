"""The listing walk every engine shares, without I/O: one ordered pass over rows sorted by
(key, something within the key) that merges entries and common prefixes, and asks for a fresh
index seek past each common prefix instead of reading the rows under it.

    keys:   a/1  a/2 ... a/20000  b  c/x
    walk:   a/1 -> CommonPrefix "a/" -> seek key >= "a0" -> b -> c/x -> "c/" -> seek "c0" ...

An engine drives a `Walker`: `begin()` gives the row limit of the next fetch from `position`,
`offer_all(rows)` (or `offer(row)` for one) feeds rows in order until it returns False
(stop reading this fetch), `end()` decides where the next fetch starts, and `done` says the
page is complete. `walk()` is the
synchronous driver (SQLite reads its cursor lazily); PostgreSQL drives it asynchronously.
ListObjects (latest versions, delete markers skipped), ListObjectVersions (newest first within
a key) and ListMultipartUploads (oldest first within a key) all page with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from workers.meta import rules

Row = tuple[Any, ...]  # row[0] is the key, as str


@dataclass(frozen=True, slots=True)
class Position:
    """Where a fetch starts: at `key` (inclusive or not) or, when `within` is set, after
    that point inside `key` (then on with the keys after it)."""

    key: str
    within: Any = None
    inclusive: bool = False


@dataclass(slots=True)
class Page:
    rows: list[Row] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last_key: str = ""  # the last entry returned: a row's key or a common prefix
    last_row: Row | None = None  # None when the last entry was a common prefix
    rows_read: int = 0


def key_position(row: Row) -> Position:
    """The position just after a row whose key has no other rows (ListObjects)."""
    return Position(str(row[0]))


class Walker:
    """At most `max_items` entries (rows and common prefixes together) from `start`. A common
    prefix at or before `marker` was returned by an earlier page and is skipped; a row for
    which `skip` is true (a delete marker in ListObjects) is stepped over without counting."""

    def __init__(
        self,
        *,
        start: Position,
        after: Callable[[Row], Position],
        prefix: str,
        delimiter: str,
        marker: str,
        max_items: int,
        skip: Callable[[Row], bool] | None = None,
    ) -> None:
        self.page = Page()
        self.position = start
        self.done = False
        self._after = after
        self._prefix = prefix
        self._delimiter = delimiter
        self._marker = marker
        self._max = max_items
        self._skip = skip
        self._limit = 0
        self._fetched = 0
        self._reseek: str | None = None

    @property
    def rolls_up(self) -> bool:
        """Whether rows may end a fetch early (a delimiter is set): engines that fetch in
        batches keep them small then, so a common prefix costs few rows read."""
        return bool(self._delimiter)

    def begin(self) -> int:
        """Start a fetch from `position`; returns how many rows it may return at most."""
        self._limit = self._max - len(self.page.rows) - len(self.page.prefixes) + 1
        self._fetched = 0
        self._reseek = None
        return self._limit

    def _finish(self, truncated: bool = False) -> bool:
        self.page.truncated = truncated
        self.done = True
        return False

    def offer(self, row: Row) -> bool:
        """Consume the next row of the fetch; False when the fetch should stop."""
        return self.offer_all((row,))

    def offer_all(self, rows: Iterable[Row]) -> bool:
        """Consume the rows of a fetch in order, stopping at the first that ends it (then
        False); rows after that one are not read. One Python loop for the whole fetch: a
        1,000-key page spent more time in per-row method calls than SQLite spent finding
        the rows."""
        page = self.page
        out = page.rows
        prefixes = page.prefixes
        skip = self._skip
        prefix, delimiter = self._prefix, self._delimiter
        room = self._max - len(out) - len(prefixes)
        stepped: Row | None = None  # the last row appended or skipped: position is after it
        added: Row | None = None  # the last row appended
        read = 0
        try:
            for row in rows:
                read += 1
                if skip is not None and skip(row):
                    stepped = row
                    continue
                if delimiter and (rolled := rules.common_prefix(row[0], prefix, delimiter)):
                    if added is not None:
                        page.last_key, page.last_row = added[0], added
                        added = None
                    return self._rolled(rolled, room == 0)
                if room == 0:
                    return self._finish(truncated=True)
                out.append(row)
                room -= 1
                stepped = added = row
            return True
        finally:
            self._fetched += read
            page.rows_read += read
            if added is not None:
                page.last_key, page.last_row = added[0], added
            if stepped is not None:
                self.position = self._after(stepped)

    def _rolled(self, rolled: str, full: bool) -> bool:
        """A row rolled up into `rolled`: list it unless an earlier page did, then seek past
        it. Always False: the rows after it in this fetch share the prefix."""
        page = self.page
        if rolled > self._marker:
            if full:
                return self._finish(truncated=True)
            page.prefixes.append(rolled)
            page.last_key, page.last_row = rolled, None
        self._reseek = rules.successor(rolled)
        if self._reseek is None:
            return self._finish()
        return False

    def end(self) -> None:
        """The fetch is over (its rows ran out, or `offer` said stop): where next, if at all."""
        if self.done:
            return
        if self._reseek is not None:
            self.position = Position(self._reseek, inclusive=True)
        elif self._fetched < self._limit:
            self.done = True


# Up to `limit` rows from a position, in listing order, never past the prefix's range. Rows
# are produced lazily (closed early when the walk seeks elsewhere), so a common prefix costs
# one row read, not the rows under it.
Fetch = Callable[[Position, int], Iterator[Row]]


def walk(fetch: Fetch, walker: Walker) -> Page:
    """Drive `walker` with a synchronous, lazy `fetch`."""
    while not walker.done:
        rows = fetch(walker.position, walker.begin())
        try:
            walker.offer_all(rows)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        walker.end()
    return walker.page
