"""Turn a config file (or text) into a validated, immutable `Config`, or every problem at once.

The stages, in order, each adding to one problem list:
  1. YAML, strictly (syntax errors stop here: nothing else can be checked);
  2. `${VAR}` interpolation in every string;
  3. `ALEXANDER_<SECTION>_<KEY>` overrides from the environment;
  4. secrets read from their `*_file` keys;
  5. key-by-key validation against the typed definition (units, ranges, unknown keys);
  6. checks across keys and against the host (TLS files, users, heartbeat timing).
This is blocking file I/O: async callers run it in `anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from alexanderd.config.checks import check_semantics
from alexanderd.config.errors import ConfigError, Problems, kind_of
from alexanderd.config.interpolate import interpolate
from alexanderd.config.overrides import apply_overrides
from alexanderd.config.schema import Config
from alexanderd.config.secretfiles import load_secret_files
from alexanderd.config.spec import key_specs, walk_leaves
from alexanderd.config.validate import Validator
from alexanderd.config.yamlsrc import parse_yaml

_SECRET_PATHS = frozenset(spec.path for spec in walk_leaves(key_specs(Config)) if spec.secret)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Load the YAML file at `path`; relative paths inside it resolve against its directory.

    `env` defaults to os.environ. Raises ConfigError listing every problem found.
    """
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise ConfigError(["(file) is not UTF-8 text"], source) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"(file) cannot read {source}: {reason}"], source) from None
    base_dir = Path(os.path.dirname(os.path.abspath(source)))
    return parse_config(text, env, base_dir, source=source)


def parse_config(
    text: str,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    *,
    source: str | None = None,
) -> Config:
    """Validate config `text`; relative paths resolve against `base_dir` (default: the cwd).

    `env` defaults to os.environ; `source` only names the text in error messages.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    base = Path(os.path.abspath(base_dir if base_dir is not None else os.getcwd()))
    problems = Problems()
    document, duplicates = parse_yaml(text, source)
    for key_path, message in duplicates:
        problems.add(key_path, message)
    if document is None:
        document = {}  # an empty file: report the missing required keys, not "not a mapping"
    if not isinstance(document, dict):
        got = kind_of(document)
        raise ConfigError([f"(top level): expected a mapping of sections, got {got}"], source)

    raw = interpolate(document, environ, problems, _SECRET_PATHS)
    apply_overrides(raw, environ, problems)
    load_secret_files(raw, base, problems)
    root = key_specs(Config)
    cleaned = Validator(root, base, problems).section(raw, root, "")
    check_semantics(cleaned, problems)
    problems.raise_if_any(source)
    try:
        return msgspec.convert(cleaned, Config)
    except msgspec.ValidationError as exc:
        # Unreachable while the validator mirrors the definition; kept so a gap between the
        # two surfaces as a config error naming the key rather than a crash.
        raise ConfigError([f"(internal) {exc}"], source) from None


def check_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the config file at `path`; an empty list means it is valid."""
    try:
        load_config(path, env)
    except ConfigError as exc:
        return exc.problems
    return []
