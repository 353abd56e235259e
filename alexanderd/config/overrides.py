"""Apply `ALEXANDER_<SECTION>_<KEY>` environment overrides to the raw config before validation.

The variable name is the key's dotted path upper-cased with dots as underscores:
`server.port` is ALEXANDER_SERVER_PORT, `storage.filesystem.base_path` is
ALEXANDER_STORAGE_FILESYSTEM_BASE_PATH. Values go in as `EnvText`, so the validator coerces
them with the same rules (and error messages) as interpolated strings. A variable naming a
known section but no key of it is an error; other ALEXANDER_* variables (such as one the
config file interpolates) are left alone.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from typing import Any

from alexanderd.config.errors import Problems
from alexanderd.config.interpolate import EnvText
from alexanderd.config.schema import Config
from alexanderd.config.spec import KeySpec, key_specs, walk_leaves

PREFIX = "ALEXANDER_"


def env_name(path: str) -> str:
    """The override variable for a dotted key path: "gc.interval" -> "ALEXANDER_GC_INTERVAL"."""
    return PREFIX + path.replace(".", "_").upper()


@functools.cache
def _overridable() -> dict[str, KeySpec]:
    table: dict[str, KeySpec] = {}
    for spec in walk_leaves(key_specs(Config)):
        name = env_name(spec.path)
        if name in table:
            # Two keys flattening to one name would make an override ambiguous: refuse at import.
            raise RuntimeError(f"{spec.path} and {table[name].path} share the variable {name}")
        table[name] = spec
    return table


def _section_prefixes() -> tuple[str, ...]:
    return tuple(env_name(spec.path) + "_" for spec in key_specs(Config))


def apply_overrides(raw: dict[str, Any], env: Mapping[str, str], problems: Problems) -> None:
    """Write every matching override into `raw` in place, recording where each value came from."""
    table = _overridable()
    sections = _section_prefixes()
    for name in sorted(env):
        if not name.startswith(PREFIX):
            continue
        spec = table.get(name)
        if spec is None:
            if name.startswith(sections):
                close = difflib.get_close_matches(name, table, n=1, cutoff=0.8)
                suggestion = f" (did you mean {close[0]}?)" if close else ""
                problems.add(name, f"not a config override{suggestion}")
            continue
        _assign(raw, spec.path, EnvText(env[name]))
        problems.origins[spec.path] = f"from {name}"


def _assign(raw: dict[str, Any], path: str, value: EnvText) -> None:
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            # The file gave a non-mapping here; the validator reports that, not us.
            return
        node = child
    node[leaf] = value
