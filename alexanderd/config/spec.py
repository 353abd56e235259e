"""Per-key metadata read from the typed config definition: units, paths, secrets, docs.

Each key is declared once, as an annotated field of a frozen msgspec Struct (see `schema`).
The markers here ride along in `msgspec.Meta(extra=...)`; `key_specs` turns a Struct class
into a tree of `KeySpec` that the validator, the env overrides and the sample renderer all
walk, so none of them keeps its own list of keys.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

# Markers for Annotated fields. Multiple Meta objects on one field merge their `extra`.
SIZE = msgspec.Meta(extra={"unit": "size"})  # int bytes, written "5MiB", "64KB" or bytes
DURATION = msgspec.Meta(extra={"unit": "duration"})  # float seconds, written "30s", "1h"
MILLIS = msgspec.Meta(extra={"unit": "millis"})  # int milliseconds, or a duration string
PATH = msgspec.Meta(extra={"path": True})  # relative values resolve against the config dir
SECRET = msgspec.Meta(extra={"secret": True})  # never echoed; `<name>_file` may supply it
UPPER = msgspec.Meta(extra={"case": "upper"})  # accepted in any case, stored upper-case
LOWER = msgspec.Meta(extra={"case": "lower"})
NONEMPTY = msgspec.Meta(min_length=1)
PORT = msgspec.Meta(ge=0, le=65535)  # a port we listen on; 0 asks the kernel for a free one
REMOTE_PORT = msgspec.Meta(ge=1, le=65535)  # a port we connect to
IP_NETWORKS = msgspec.Meta(extra={"format": "ip_network"})  # each item an IP or a CIDR
# Keys that only matter for one database driver; each sample shows only its driver's keys.
SQLITE_ONLY = msgspec.Meta(extra={"only": "sqlite"})
POSTGRES_ONLY = msgspec.Meta(extra={"only": "postgres"})

NODEFAULT: Any = msgspec.NODEFAULT


def hint(text: str) -> msgspec.Meta:
    """The message shown when a value fails the field's pattern (instead of the regex)."""
    return msgspec.Meta(extra={"hint": text})


@dataclass(frozen=True)
class KeySpec:
    """One config key as the loader sees it: its type stripped of metadata, plus the markers."""

    name: str
    path: str
    typ: mi.Type  # never Metadata, never a union with None: see `nullable`
    nullable: bool
    required: bool
    default: Any
    description: str
    examples: tuple[Any, ...]
    unit: str | None
    is_path: bool
    secret: bool
    case: str | None
    hint: str | None
    only: str | None  # the database driver this key applies to, if just one
    format: str | None  # a check beyond the type, such as "ip_network"
    section: type[msgspec.Struct] | None  # set when the key is a nested section
    children: tuple[KeySpec, ...]

    @property
    def has_default(self) -> bool:
        return self.default is not NODEFAULT


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config section: strict, immutable, and silent about secrets in reprs."""

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._redacted())
        return f"{type(self).__name__}({shown})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return list(self._redacted())

    def _redacted(self) -> Iterator[tuple[str, Any]]:
        hidden = secret_names(type(self))
        for name in self.__struct_fields__:
            value = getattr(self, name)
            yield name, (Hidden() if name in hidden and value else value)


class Hidden:
    """Stands in for a secret in reprs."""

    def __repr__(self) -> str:
        return "<hidden>"


@functools.cache
def secret_names(cls: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(spec.name for spec in key_specs(cls) if spec.secret)


@functools.cache
def key_specs(cls: type[msgspec.Struct], prefix: str = "") -> tuple[KeySpec, ...]:
    """The keys of section `cls` in declaration order, nested sections expanded."""
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{cls!r} is not a msgspec Struct")
    return tuple(_field_spec(field, prefix) for field in info.fields)


def resolve_path(value: str, base_dir: Path) -> str:
    """Make a PATH value absolute against `base_dir`; ":memory:" (SQLite) is not a path."""
    if value == ":memory:" or not value:
        return value
    return os.path.normpath(base_dir / value)


def walk_leaves(specs: tuple[KeySpec, ...]) -> Iterator[KeySpec]:
    """Every non-section key below `specs`, depth first."""
    for spec in specs:
        if spec.section is not None:
            yield from walk_leaves(spec.children)
        else:
            yield spec


def _field_spec(field: mi.Field, prefix: str) -> KeySpec:
    path = f"{prefix}.{field.name}" if prefix else field.name
    typ, extra, schema = _unwrap(field.type)
    nullable = False
    if isinstance(typ, mi.UnionType):
        members = [m for m in typ.types if not isinstance(m, mi.NoneType)]
        if len(members) != 1:
            raise TypeError(f"config key {path}: only `X | None` unions are supported")
        nullable = True
        typ, inner_extra, inner_schema = _unwrap(members[0])
        extra = {**extra, **inner_extra}
        schema = {**schema, **inner_schema}
    if field.default is not NODEFAULT:
        default = field.default
    elif field.default_factory is not NODEFAULT:
        default = field.default_factory()
    else:
        default = NODEFAULT
    section = typ.cls if isinstance(typ, mi.StructType) else None
    return KeySpec(
        name=field.name,
        path=path,
        typ=typ,
        nullable=nullable,
        required=field.required,
        default=default,
        description=str(schema.get("description", "")),
        examples=tuple(schema.get("examples", ())),
        unit=extra.get("unit"),
        is_path=bool(extra.get("path")),
        secret=bool(extra.get("secret")),
        case=extra.get("case"),
        hint=extra.get("hint"),
        only=extra.get("only"),
        format=extra.get("format"),
        section=section,
        children=key_specs(section, path) if section is not None else (),
    )


def _unwrap(typ: mi.Type) -> tuple[mi.Type, dict[str, Any], dict[str, Any]]:
    if isinstance(typ, mi.Metadata):
        return typ.type, dict(typ.extra or {}), dict(typ.extra_json_schema or {})
    return typ, {}, {}
