"""Parse and format the human units of config values: sizes ("5MiB") and durations ("30s").

Parsing is exact: sizes go through Decimal so "1.5GiB" is a whole number of bytes or an error,
never a silently rounded float. Formatting picks the largest unit that represents the value
exactly, so a formatted default parses back to the same number.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from alexanderd.config.errors import kind_of

# SI units are powers of 1000 and IEC units powers of 1024, as on every disk label and in
# `ls -h --si`; single letters ("5M") are refused because people mean either.
_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")

_DURATION_UNITS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}
# Go-style compound durations ("1h30m") are accepted because operators copy them from
# other daemons' configs; each part is a number followed by a unit.
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)")
_PLAIN_NUMBER_RE = re.compile(r"^\d+(?:\.\d+)?$")


class UnitError(ValueError):
    """A size or duration that cannot be parsed; the message says what is accepted."""


SIZE_HELP = "a size like 512, 64KB, 5MiB or 1GB (plain numbers are bytes)"
DURATION_HELP = "a duration like 500ms, 30s, 5m, 1h, 7d or 1h30m (plain numbers are seconds)"


def parse_size(value: object) -> int:
    """Return a size in bytes from an int (bytes) or a string with an SI or IEC unit."""
    if isinstance(value, bool):
        raise UnitError(f"expected {SIZE_HELP}, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise UnitError("must not be negative")
        return value
    if not isinstance(value, str):
        raise UnitError(f"expected {SIZE_HELP}, got {kind_of(value)}")
    match = _SIZE_RE.match(value)
    if match is None:
        raise UnitError(f"expected {SIZE_HELP}, got {value!r}")
    number, unit = match.groups()
    unit_key = unit.lower() if unit else "b"
    if unit_key not in _SIZE_UNITS:
        hint = ""
        if unit_key in ("k", "m", "g", "t", "p"):
            letter = unit_key.upper()
            hint = f" (ambiguous: write {number}{letter}iB for 1024-based or {number}{letter}B)"
        raise UnitError(f"unknown size unit {unit!r} in {value!r}{hint}")
    total = Decimal(number) * _SIZE_UNITS[unit_key]
    if total != total.to_integral_value():
        raise UnitError(f"{value!r} is not a whole number of bytes")
    return int(total)


def parse_duration(value: object) -> float:
    """Return a duration in seconds from a number (seconds) or a string with units."""
    if isinstance(value, bool):
        raise UnitError(f"expected {DURATION_HELP}, got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise UnitError(f"expected {DURATION_HELP}, got {value!r}")
        if seconds < 0:
            raise UnitError("must not be negative")
        return seconds
    if not isinstance(value, str):
        raise UnitError(f"expected {DURATION_HELP}, got {kind_of(value)}")
    text = value.strip()
    if _PLAIN_NUMBER_RE.match(text):
        return float(Decimal(text))
    parts = _DURATION_PART_RE.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise UnitError(f"expected {DURATION_HELP}, got {value!r}")
    total = Decimal(0)
    for number, unit in parts:
        if unit not in _DURATION_UNITS:
            raise UnitError(f"unknown duration unit {unit!r} in {value!r} (use ms, s, m, h or d)")
        total += Decimal(number) * _DURATION_UNITS[unit]
    return float(total)


def parse_millis(value: object) -> int:
    """Return whole milliseconds from an int or digit string (already ms) or a duration ("5s")."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise UnitError("must not be negative")
        return value
    if not isinstance(value, str):
        raise UnitError(f"expected milliseconds or a duration like 5s, got {kind_of(value)}")
    millis = Decimal(str(parse_duration(value))) * 1000
    if millis != millis.to_integral_value():
        raise UnitError(f"{value!r} is not a whole number of milliseconds")
    return int(millis)


def format_size(nbytes: int) -> str:
    """Render bytes with the largest IEC (then SI) unit that is exact: 5497558138880 -> 5TiB."""
    if nbytes <= 0:
        return str(nbytes)
    for unit in ("PiB", "TiB", "GiB", "MiB", "KiB", "PB", "TB", "GB", "MB", "KB"):
        factor = _SIZE_UNITS[unit.lower()]
        if nbytes % factor == 0:
            return f"{nbytes // factor}{unit}"
    return str(nbytes)


def format_duration(seconds: float) -> str:
    """Render seconds with the largest exact unit: 86400 -> 1d, 0.5 -> 500ms, 90 -> 90s."""
    if seconds == 0:
        return "0s"
    exact = Decimal(str(seconds))
    for unit in ("d", "h", "m", "s", "ms"):
        count = exact / _DURATION_UNITS[unit]
        if count == count.to_integral_value():
            return f"{int(count)}{unit}"
    return f"{exact.normalize()}s"
