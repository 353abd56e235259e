"""The shared listing walk: `Walker.offer_all` (the fused loop the engines drive) walks exactly
as feeding `Walker.offer` row by row does, seeks and all."""

from __future__ import annotations

import operator
from collections.abc import Callable, Generator, Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from workers.meta import pages, rules
from workers.meta.walk import Page, Position, Row, Walker, key_position, walk

Fetch = Callable[[Position, int], Generator[Row, None, None]]

_KEYS = st.lists(st.text(alphabet="ab/-é", min_size=1, max_size=5), unique=True, max_size=25).map(
    sorted
)


def _fetcher(rows: list[Row], prefix: str) -> tuple[list[Position], Fetch]:
    """A lazy fetch over sorted `rows`, recording where each fetch started."""
    starts: list[Position] = []
    upper = rules.successor(prefix) if prefix else None

    def fetch(position: Position, limit: int) -> Generator[Row, None, None]:
        starts.append(position)
        found = 0
        for row in rows:
            key = row[0]
            if key < position.key or (key == position.key and not position.inclusive):
                continue
            if upper is not None and key >= upper:
                return
            if found == limit:
                return
            found += 1
            yield row

    return starts, fetch


def _walker(start: Position, prefix: str, delimiter: str, marker: str, max_items: int) -> Walker:
    return Walker(
        start=start,
        after=key_position,
        prefix=prefix,
        delimiter=delimiter,
        marker=marker,
        max_items=max_items,
        skip=operator.itemgetter(1),
    )


def _walk_one_by_one(fetch: Fetch, walker: Walker) -> Page:
    """walk(), as it was before offer_all: one offer per row."""
    while not walker.done:
        rows = fetch(walker.position, walker.begin())
        try:
            for row in rows:
                if not walker.offer(row):
                    break
        finally:
            rows.close()
        walker.end()
    return walker.page


@settings(max_examples=400)
@given(
    keys=_KEYS,
    markers=st.data(),
    prefix=st.sampled_from(["", "a", "a/", "b"]),
    delimiter=st.sampled_from(["", "/", "-", "ab"]),
    max_items=st.integers(min_value=0, max_value=8),
)
def test_offer_all_walks_as_offer_does(
    keys: list[str],
    markers: st.DataObject,
    prefix: str,
    delimiter: str,
    max_items: int,
) -> None:
    deleted = markers.draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
    marker = markers.draw(st.sampled_from(["", "a", "a/a", "b", *keys]))
    rows: list[Row] = [(key, int(gone)) for key, gone in zip(keys, deleted, strict=True)]
    # Page by page, as a client resumes after each page's last entry.
    for _ in range(len(keys) + 2):
        start = pages.start_position(prefix, marker)
        if start is None:
            break  # an empty page: the engines do not walk at all
        fused_walker = _walker(start, prefix, delimiter, marker, max_items)
        fused_starts, fused_fetch = _fetcher(rows, prefix)
        fused = walk(fused_fetch, fused_walker)
        plain_walker = _walker(start, prefix, delimiter, marker, max_items)
        plain_starts, plain_fetch = _fetcher(rows, prefix)
        plain = _walk_one_by_one(plain_fetch, plain_walker)
        assert fused == plain
        assert fused_starts == plain_starts
        assert fused_walker.position == plain_walker.position
        if not fused.truncated or not fused.last_key:
            break
        marker = fused.last_key


def test_offer_all_stops_reading_at_a_common_prefix() -> None:
    rows: list[Row] = [("a/1", 0), ("a/2", 0), ("b", 0)]
    walker = _walker(Position("", inclusive=True), "", "/", "", 10)
    walker.begin()
    consumed: list[Row] = []

    def rows_seen() -> Iterator[Row]:
        for row in rows:
            consumed.append(row)
            yield row

    assert walker.offer_all(rows_seen()) is False
    assert consumed == rows[:1]
    assert walker.page.prefixes == ["a/"]
    assert walker.page.last_key == "a/" and walker.page.last_row is None
    walker.end()
    assert walker.position == Position("a0", inclusive=True)
