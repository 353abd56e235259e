"""Sizes and durations: parsing, rejection of ambiguous input, and exact round trips."""

from __future__ import annotations

import pytest

from alexanderd.config.units import (
    UnitError,
    format_duration,
    format_size,
    parse_duration,
    parse_millis,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (512, 512),
        ("512", 512),
        ("64KB", 64_000),
        ("64KiB", 65_536),
        ("5MiB", 5 * 1024**2),
        ("5 MiB", 5 * 1024**2),
        ("1GB", 1_000_000_000),
        ("1gib", 1024**3),
        ("1.5GiB", 1536 * 1024**2),
        ("5TiB", 5 * 1024**4),
        ("100B", 100),
    ],
)
def test_sizes_parse_to_bytes(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("5M", "ambiguous"),
        ("5 parsecs", "unknown size unit"),
        ("-1KB", "expected a size"),
        (-1, "negative"),
        ("0.0001KB", "whole number of bytes"),
        (1.5, "got a number"),
        (True, "boolean"),
        ("", "expected a size"),
    ],
)
def test_bad_sizes_are_rejected_with_a_reason(text: object, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (30, 30.0),
        (0.25, 0.25),
        ("30", 30.0),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("24h", 86400.0),
        ("7d", 604800.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
    ],
)
def test_durations_parse_to_seconds(text: object, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("5 minutes", "expected a duration"),
        ("5w", "unknown duration unit"),
        ("1h 30m", "expected a duration"),
        ("-5s", "expected a duration"),
        (-1, "negative"),
        (float("inf"), "expected a duration"),
        (False, "boolean"),
        ("", "expected a duration"),
    ],
)
def test_bad_durations_are_rejected_with_a_reason(text: object, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_duration(text)


def test_millis_take_plain_numbers_as_milliseconds_and_durations_as_durations() -> None:
    assert parse_millis(5000) == 5000
    assert parse_millis("5000") == 5000
    assert parse_millis("5s") == 5000
    assert parse_millis("250ms") == 250
    with pytest.raises(UnitError):
        parse_millis("soon")
    with pytest.raises(UnitError, match="whole number of milliseconds"):
        parse_millis("0.0001s")


@pytest.mark.parametrize(
    "nbytes", [0, 1, 1000, 1024, 5 * 1024**2, 64_000, 5 * 1024**4, 123_456_789]
)
def test_formatted_sizes_parse_back_exactly(nbytes: int) -> None:
    assert parse_size(format_size(nbytes)) == nbytes


@pytest.mark.parametrize("seconds", [0.0, 0.5, 1.0, 30.0, 90.0, 3600.0, 86400.0, 604800.0, 1.25])
def test_formatted_durations_parse_back_exactly(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_formatting_picks_the_largest_exact_unit() -> None:
    assert format_size(5 * 1024**4) == "5TiB"
    assert format_size(64_000) == "64KB"
    assert format_duration(604800) == "7d"
    assert format_duration(0.5) == "500ms"
