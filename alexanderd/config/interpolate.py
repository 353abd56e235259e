"""Expand `${VAR}` and `${VAR:-default}` from the environment in every string of the config.

`${VAR}` needs VAR to be set (it may be empty); `${VAR:-default}` uses the default when VAR is
unset or empty, as in the shell. `$${` writes a literal `${`. A string that used the
environment becomes `EnvText`, which the validator may coerce ("9000" for a port), because
environment variables can only hold text. A string that cannot be expanded is reported
and replaced by `UNRESOLVED`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alexanderd.config.errors import Problems, join_path


class EnvText(str):
    """Text that came from the environment, so "9000" may stand for the integer 9000."""

    __slots__ = ()


class Unresolved:
    """Stands in for a value whose interpolation (or secret file) failed and was reported.

    The validator skips it rather than report the raw `${...}` text as a second problem.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = Unresolved()

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_REFERENCE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_ENV_STYLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def interpolate(
    tree: Any,
    env: Mapping[str, str],
    problems: Problems,
    secret_paths: frozenset[str] = frozenset(),
    path: str = "",
) -> Any:
    """Return `tree` with every string expanded; unset variables are recorded against `path`."""
    if isinstance(tree, dict):
        return {
            key: interpolate(value, env, problems, secret_paths, join_path(path, str(key)))
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [
            interpolate(item, env, problems, secret_paths, f"{path}[{index}]")
            for index, item in enumerate(tree)
        ]
    if isinstance(tree, str) and "${" in tree:
        return _expand(tree, env, problems, path, path in secret_paths)
    return tree


def _expand(
    text: str, env: Mapping[str, str], problems: Problems, path: str, secret: bool
) -> str | Unresolved:
    out: list[str] = []
    position = 0
    used_env = False
    for match in _TOKEN.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token == "$${":
            out.append("${")
            continue
        body = match.group(1)
        if body is None:
            problems.add(path, "unterminated ${ (write $${ for a literal ${)")
            return UNRESOLVED
        reference = _REFERENCE.match(body)
        if reference is None:
            # The text inside the braces is not echoed: it may be a pasted secret.
            problems.add(path, "bad ${...} reference: expected ${NAME} or ${NAME:-default}")
            return UNRESOLVED
        name, default = reference.group(1), reference.group(2)
        value = env.get(name)
        used_env = True
        if default is not None and not value:
            out.append(default)
        elif value is None:
            problems.add(path, f"{_describe(name, secret)} is not set (and no default given)")
            return UNRESOLVED
        else:
            out.append(value)
    out.append(text[position:])
    expanded = "".join(out)
    return EnvText(expanded) if used_env else expanded


def _describe(name: str, secret: bool) -> str:
    # In a secret's value, a "name" that does not look like an environment variable (say a
    # pasted hex key wrapped in ${...}) could be the secret itself, so it is not repeated.
    if secret and (not _ENV_STYLE.match(name) or _HEX.match(name)):
        return "the environment variable referenced here"
    return f"environment variable {name}"
