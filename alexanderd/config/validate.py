"""Check a raw config tree against the typed definition, key by key, collecting every problem.

msgspec would stop at the first bad field, so this walks the same definition itself (via
`spec.key_specs`) and records every problem with its dotted path; only a tree that passed is
handed to `msgspec.convert`. Along the way it converts units (sizes to bytes, durations to
seconds), normalises case where the definition says so, fills defaults, resolves relative
paths, and coerces `EnvText` (values from the environment, which can only be text).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from pathlib import Path
from typing import Any, NoReturn

import msgspec.inspect as mi

from alexanderd.config.errors import Problems, join_path, kind_of
from alexanderd.config.interpolate import EnvText, Unresolved
from alexanderd.config.spec import KeySpec, resolve_path
from alexanderd.config.units import (
    UnitError,
    format_duration,
    format_size,
    parse_duration,
    parse_millis,
    parse_size,
)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_UNIT_PARSERS = {"size": parse_size, "duration": parse_duration, "millis": parse_millis}


class _Invalid(Exception):
    """A leaf value failed; the message is already recorded."""


class Validator:
    """Validates one raw tree; holds what every level needs (root specs, base dir, problems)."""

    def __init__(self, root: tuple[KeySpec, ...], base_dir: Path, problems: Problems) -> None:
        self.root = root
        self.base_dir = base_dir
        self.problems = problems

    def section(self, raw: dict[Any, Any], specs: tuple[KeySpec, ...], path: str) -> dict[str, Any]:
        """Return the cleaned mapping for one section; bad keys are left out of it."""
        by_name = {spec.name: spec for spec in specs}
        for key in raw:
            if str(key) not in by_name:
                self.problems.add(join_path(path, str(key)), self._unknown(str(key), specs))
        cleaned: dict[str, Any] = {}
        for spec in specs:
            present = spec.name in raw
            value = raw.get(spec.name)
            if spec.section is not None:
                if value is None:
                    value = {}  # `redis:` with every key commented out means "all defaults"
                if not isinstance(value, dict):
                    got = kind_of(value)
                    self.problems.add(spec.path, f"expected a mapping of settings, got {got}")
                    continue
                cleaned[spec.name] = self.section(value, spec.children, spec.path)
            elif present:
                try:
                    cleaned[spec.name] = self.leaf(spec, value)
                except _Invalid:
                    pass
            elif spec.has_default:
                cleaned[spec.name] = spec.default
            elif f"{spec.name}_file" in by_name:
                self.problems.add(
                    spec.path, f"is required (set it, or {spec.path}_file, or a ${{VAR}} for it)"
                )
            else:
                self.problems.add(spec.path, "is required")
        return cleaned

    def leaf(self, spec: KeySpec, value: Any) -> Any:
        if isinstance(value, Unresolved):
            raise _Invalid  # its interpolation problem is already recorded
        from_env = isinstance(value, EnvText)
        if value is None or (from_env and value == "" and spec.nullable):
            if spec.nullable:
                return None
            self._fail(spec, f"expected {_expected(spec)}, got null")
        if spec.unit is not None:
            try:
                value = _UNIT_PARSERS[spec.unit](value)
            except UnitError as exc:
                self._fail(spec, str(exc))
        typ = spec.typ
        if isinstance(typ, mi.BoolType):
            return self._bool(spec, value, from_env)
        if isinstance(typ, mi.IntType | mi.FloatType):
            return self._number(spec, typ, value, from_env)
        if isinstance(typ, mi.StrType):
            return self._str(spec, typ, value, from_env)
        if isinstance(typ, mi.LiteralType):
            return self._literal(spec, typ, value)
        if isinstance(typ, mi.ListType) and isinstance(typ.item_type, mi.StrType):
            return self._str_list(spec, value, from_env)
        raise TypeError(f"config key {spec.path}: unsupported type {typ!r}")

    def _bool(self, spec: KeySpec, value: Any, from_env: bool) -> bool:
        if isinstance(value, bool):
            return value
        if from_env and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self._fail(spec, f"expected true or false, got {_show(spec, value)}")

    def _number(
        self, spec: KeySpec, typ: mi.IntType | mi.FloatType, value: Any, from_env: bool
    ) -> int | float:
        want_int = isinstance(typ, mi.IntType)
        number: int | float | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int) or (isinstance(value, float) and not want_int):
            number = value
        elif from_env:
            number = _parse_number(value, want_int)
        if number is None or (isinstance(number, float) and not math.isfinite(number)):
            self._fail(spec, f"expected {_expected(spec)}, got {_show(spec, value)}")
        self._check_range(spec, typ, number)
        return number if want_int else float(number)

    def _check_range(self, spec: KeySpec, typ: mi.IntType | mi.FloatType, number: float) -> None:
        low_ok = (typ.ge is None or number >= typ.ge) and (typ.gt is None or number > typ.gt)
        high_ok = (typ.le is None or number <= typ.le) and (typ.lt is None or number < typ.lt)
        if low_ok and high_ok:
            return

        def show(bound: float) -> str:
            return _format_number(spec, bound)

        if typ.ge is not None and typ.le is not None:
            rule = f"must be {show(typ.ge)}..{show(typ.le)}"
        elif not low_ok and typ.gt is not None:
            rule = f"must be greater than {show(typ.gt)}"
        elif not low_ok and typ.ge is not None:
            rule = f"must be at least {show(typ.ge)}"
        elif typ.lt is not None:
            rule = f"must be less than {show(typ.lt)}"
        else:
            rule = f"must be at most {show(typ.le or 0)}"
        self._fail(spec, f"{rule} (got {show(number)})")

    def _str(self, spec: KeySpec, typ: mi.StrType, value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            quote = " (quote it)" if isinstance(value, int | float) and not spec.secret else ""
            self._fail(spec, f"expected a string, got {_show(spec, value)}{quote}")
        text = str(value)
        if typ.min_length is not None and len(text) < typ.min_length:
            self._fail(spec, "must not be empty")
        if typ.pattern is not None and not re.search(typ.pattern, text):
            rule = spec.hint or f"must match {typ.pattern}"
            if spec.secret and not text:
                self._fail(spec, f"is empty; {rule}")
            self._fail(spec, f"{rule} (got {_show(spec, text)})")
        if spec.is_path:
            # A relative path from the environment means the operator's working directory.
            return resolve_path(text, Path.cwd() if from_env else self.base_dir)
        return text

    def _literal(self, spec: KeySpec, typ: mi.LiteralType, value: Any) -> Any:
        if isinstance(value, str) and spec.case == "upper":
            value = value.upper()
        elif isinstance(value, str) and spec.case == "lower":
            value = value.lower()
        if isinstance(value, str) and value in typ.values:
            return str(value)
        choices = ", ".join(str(v) for v in typ.values)
        close = difflib.get_close_matches(str(value), [str(v) for v in typ.values], n=1)
        suggestion = f"; did you mean {close[0]}?" if close and isinstance(value, str) else ""
        self._fail(spec, f"must be one of {choices} (got {_show(spec, value)}){suggestion}")

    def _str_list(self, spec: KeySpec, value: Any, from_env: bool) -> list[str]:
        if from_env:
            # Lists from the environment are comma-separated: "10.0.0.0/8, 127.0.0.1".
            value = [item.strip() for item in str(value).split(",") if item.strip()]
        if not isinstance(value, list):
            self._fail(spec, f"expected a list of strings, got {_show(spec, value)}")
        valid = True
        for index, item in enumerate(value):
            problem = None
            if isinstance(item, Unresolved):
                valid = False
                continue
            if not isinstance(item, str):
                problem = f"expected a string, got {kind_of(item)}"
            elif spec.format == "ip_network":
                problem = _ip_network_problem(item)
            if problem is not None:
                self.problems.add(f"{spec.path}[{index}]", problem)
                valid = False
        if not valid:
            raise _Invalid
        return [str(item) for item in value]

    def _fail(self, spec: KeySpec, message: str) -> NoReturn:
        self.problems.add(spec.path, message)
        raise _Invalid

    def _unknown(self, key: str, specs: tuple[KeySpec, ...]) -> str:
        names = [spec.name for spec in specs]
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        if close:
            return f"unknown key (did you mean {close[0]}?)"
        # A right key in the wrong section ("server.fsync") is a common slip; point at it.
        elsewhere = [s.path for s in _all_specs(self.root) if s.name == key]
        if elsewhere:
            return f"unknown key here (did you mean {' or '.join(elsewhere)}?)"
        return f"unknown key (known here: {', '.join(names)})"


def _all_specs(specs: tuple[KeySpec, ...]) -> list[KeySpec]:
    found: list[KeySpec] = []
    for spec in specs:
        found.append(spec)
        found.extend(_all_specs(spec.children))
    return found


def _ip_network_problem(text: str) -> str | None:
    try:
        ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        return f"{text!r} is not an IP address or CIDR network ({exc})"
    return None


def _parse_number(text: str, want_int: bool) -> int | float | None:
    try:
        return int(text.strip()) if want_int else float(text.strip())
    except ValueError:
        return None


def _expected(spec: KeySpec) -> str:
    names = {
        mi.BoolType: "true or false",
        mi.IntType: "an integer",
        mi.FloatType: "a number",
        mi.StrType: "a string",
        mi.ListType: "a list",
        mi.LiteralType: "one of the listed values",
    }
    if spec.unit == "size":
        return "a size"
    if spec.unit in ("duration", "millis"):
        return "a duration"
    return names.get(type(spec.typ), "a value")


def _show(spec: KeySpec, value: Any) -> str:
    """Describe an offending value: echoed for normal keys, only its shape for secrets."""
    if spec.secret:
        if isinstance(value, str):
            return f"a value of {len(value)} characters, hidden"
        return kind_of(value)
    if isinstance(value, dict | list):
        return kind_of(value)
    text = repr(str(value)) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _format_number(spec: KeySpec, number: float) -> str:
    if spec.unit == "size":
        return format_size(int(number))
    if spec.unit == "duration":
        return format_duration(float(number))
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)
