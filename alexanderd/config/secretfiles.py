"""Read secrets from their `<key>_file` companions (auth.master_key_file, ...) into the config.

Runs on the raw tree before validation, so a key read from a file is checked exactly like one
written inline (a master key must still be 64 hex characters). Surrounding whitespace is
stripped because editors and `echo` add a newline. Giving a secret and its file at once is an
error rather than a precedence rule nobody remembers; an empty value counts as not given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alexanderd.config.errors import Problems
from alexanderd.config.interpolate import UNRESOLVED
from alexanderd.config.schema import Config
from alexanderd.config.spec import KeySpec, key_specs, resolve_path


def load_secret_files(raw: dict[str, Any], base_dir: Path, problems: Problems) -> None:
    """Fill each secret from its `_file` key in place, recording problems against the key."""
    _load_section(raw, key_specs(Config), base_dir, problems)


def _load_section(
    raw: dict[str, Any], specs: tuple[KeySpec, ...], base_dir: Path, problems: Problems
) -> None:
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        child = raw.get(spec.name)
        if spec.section is not None and isinstance(child, dict):
            _load_section(child, spec.children, base_dir, problems)
            continue
        file_spec = by_name.get(f"{spec.name}_file")
        if not spec.secret or file_spec is None:
            continue
        file_value = raw.get(file_spec.name)
        if not isinstance(file_value, str) or not file_value:
            # Absent, or a wrong type that the validator reports with the usual message.
            continue
        if raw.get(spec.name) not in (None, ""):
            problems.add(
                spec.path,
                f"both {spec.path} and {file_spec.path} are set; give only one of them",
            )
            continue
        # An override's relative path means the operator's working directory, not the file's.
        base = Path.cwd() if file_spec.path in problems.origins else base_dir
        secret = _read(resolve_path(file_value, base), file_spec.path, problems)
        if secret is None:
            # Reported against the file key; mark the secret so it is not also "required".
            raw[spec.name] = UNRESOLVED
            continue
        raw[spec.name] = secret
        problems.origins[spec.path] = f"read from {file_spec.path}"


def _read(path: str, key: str, problems: Problems) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        problems.add(key, f"{path} is not UTF-8 text")
        return None
    except OSError as exc:
        problems.add(key, f"cannot read {path}: {exc.strerror or type(exc).__name__}")
        return None
    secret = text.strip()
    if not secret:
        problems.add(key, f"{path} is empty")
        return None
    return secret
