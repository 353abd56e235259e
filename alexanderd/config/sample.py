"""Render the commented sample configs in conf/ from the typed definition.

Every key appears with its description and default (or the value this layout sets), so the
samples cannot drift from the code: tests compare conf/*.yaml with this output. Regenerate:
    python -m alexanderd.config single > conf/alexanderd.yaml
    python -m alexanderd.config distributed > conf/distributed.yaml
"""

from __future__ import annotations

import json
import textwrap
from typing import Any, Literal

import yaml

from alexanderd.config.schema import Config
from alexanderd.config.spec import NODEFAULT, KeySpec, key_specs
from alexanderd.config.units import format_duration, format_size

SampleKind = Literal["single", "distributed"]
SAMPLE_KINDS: tuple[SampleKind, ...] = ("single", "distributed")

_WIDTH = 98
_COMMON_HEADER = """\
Sizes: 512 (bytes), 64KB, 5MiB, 1GB, 5TiB. Durations: 500ms, 30s, 5m, 1h, 7d
(plain numbers are seconds). ${VAR} and ${VAR:-default} are replaced from the
environment in any value ($${ is a literal ${). Any key can be overridden with
ALEXANDER_<SECTION>_<KEY>, e.g. ALEXANDER_SERVER_PORT=9000 or
ALEXANDER_STORAGE_FILESYSTEM_BASE_PATH=/srv/alexanderd. Secrets can come from files
instead (auth.master_key_file, database.password_file, ...); never give both.
Relative paths are resolved against the directory of this file.
Unknown keys are errors. Check a file with `alexanderd check-config`."""

_LAYOUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "single": (
        """\
alexanderd: single node. SQLite (WAL) metadata and blobs under one data directory.
Needs ALEXANDER_MASTER_KEY in the environment (openssl rand -hex 32), or switch
to auth.master_key_file.""",
        {
            "storage.filesystem.base_path": "/var/lib/alexanderd",
            "auth.master_key": "${ALEXANDER_MASTER_KEY}",
        },
    ),
    "distributed": (
        """\
alexanderd: one node of a cluster. Every node runs this same file: PostgreSQL holds
the metadata, Redis caches and coordinates, and storage.filesystem.base_path is a
shared filesystem (NFSv4 or a cluster FS) mounted at the same path on every node.
Needs ALEXANDER_MASTER_KEY, POSTGRES_PASSWORD and REDIS_PASSWORD in the environment,
or switch to the *_file keys.""",
        {
            "server.host": "0.0.0.0",
            "database.driver": "postgres",
            "database.host": "postgres.internal",
            "database.password": "${POSTGRES_PASSWORD}",
            "database.sslmode": "require",
            "redis.enabled": True,
            "redis.host": "redis.internal",
            "redis.password": "${REDIS_PASSWORD}",
            "storage.filesystem.base_path": "/mnt/shared/alexanderd",
            "auth.master_key": "${ALEXANDER_MASTER_KEY}",
        },
    ),
}


def render_sample(kind: SampleKind) -> str:
    """The commented YAML sample for a single node or for one node of a cluster."""
    if kind not in _LAYOUTS:
        raise ValueError(f"unknown sample kind {kind!r}: use 'single' or 'distributed'")
    header, values = _LAYOUTS[kind]
    driver = str(values.get("database.driver", "sqlite"))
    lines = [_comment(header, ""), "#", _comment(_COMMON_HEADER, "")]
    for spec in key_specs(Config):
        lines.append("")
        lines.extend(_render(spec, values, driver, 0))
    return "\n".join(lines) + "\n"


def _render(spec: KeySpec, values: dict[str, Any], driver: str, depth: int) -> list[str]:
    indent = "  " * depth
    if spec.section is not None:
        doc = (spec.section.__doc__ or "").strip()
        lines = [_comment(doc, indent)] if depth == 0 and doc else []
        lines.append(f"{indent}{spec.name}:")
        skipped = [c for c in spec.children if c.only not in (None, driver)]
        for child in spec.children:
            if child not in skipped:
                lines.extend(_render(child, values, driver, depth + 1))
        if skipped:
            other = "conf/distributed.yaml" if driver == "sqlite" else "conf/alexanderd.yaml"
            lines.append(f"{indent}  # Settings of the other database driver: see {other}.")
        return lines
    lines = [_comment(spec.description, indent)] if spec.description else []
    if spec.path in values:
        lines.append(f"{indent}{spec.name}: {_scalar(spec, values[spec.path])}")
    elif spec.default is NODEFAULT:
        raise ValueError(f"sample: required key {spec.path} has no value in this layout")
    elif spec.default is None:
        example = spec.examples[0] if spec.examples else "..."
        lines.append(f"{indent}# {spec.name}: {_scalar(spec, example)}")
    else:
        lines.append(f"{indent}{spec.name}: {_scalar(spec, spec.default)}")
        if spec.examples and spec.default in ([], ""):
            lines.append(f"{indent}# {spec.name}: {_scalar(spec, spec.examples[0])}")
    return lines


def _scalar(spec: KeySpec, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if spec.unit == "size" and isinstance(value, int):
        return format_size(value)
    if spec.unit == "duration" and isinstance(value, int | float):
        return format_duration(float(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_string(str(item)) for item in value) + "]"
    return _string(str(value))


def _string(text: str) -> str:
    # Plain when every YAML reader (1.1 included) reads it back as the same string.
    if text and text.strip() == text and not any(c in text for c in "#:{}[],&*!|>'\"%@`$"):
        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text)


def _comment(text: str, indent: str) -> str:
    width = _WIDTH - len(indent) - 2
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        wrapped = textwrap.wrap(paragraph, width) or [""]
        out.extend(f"{indent}# {line}".rstrip() for line in wrapped)
    return "\n".join(out)
