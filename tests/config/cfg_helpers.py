"""Helpers for the config tests: distinctive secrets and a minimal valid document."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from alexanderd.config import Config

# Distinctive secrets, so a test can search any output for them.
MASTER_KEY = "d00dfeed" * 8
SSE_KEY = "c0ffee00" * 8
DB_PASSWORD = "pg-pa55-SECRET-xyzzy"
REDIS_PASSWORD = "redis-pa55-SECRET-plugh"

Parse = Callable[..., Config]


def minimal() -> dict[str, Any]:
    """The smallest valid config: the two keys without defaults."""
    return {
        "storage": {"filesystem": {"base_path": "/srv/alexanderd"}},
        "auth": {"master_key": MASTER_KEY},
    }


def merged(changes: Mapping[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """`base` (default: minimal()) with `changes` deep-merged in; a None value deletes a key."""
    out = copy.deepcopy(minimal() if base is None else base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merged(value, out[key])
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False)
