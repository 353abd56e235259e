"""Parse config YAML strictly: YAML 1.2 booleans, no duplicate keys, no secret-leaking errors.

PyYAML follows YAML 1.1, where `off`, `no` and `on` are booleans, so `synchronous_mode: OFF`
would arrive as False; here only true/false are booleans and everything else stays a string.
Duplicate keys, which PyYAML silently resolves to the last one, are reported. Syntax errors
are reported by line and column only: PyYAML's message quotes the offending line, which may
hold a password.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from alexanderd.config.errors import ConfigError

_BOOL_TAG = "tag:yaml.org,2002:bool"
_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that resolves only the YAML 1.2 spellings of true and false as booleans."""


# Copy the resolver table before editing it so the stock SafeLoader keeps YAML 1.1 rules.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(_BOOL_TAG, _YAML12_BOOL, list("tTfF"))


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, list[tuple[str, str]]]:
    """Return the document and (dotted key, message) problems for duplicate keys.

    Raises ConfigError when the text is not YAML at all: nothing further can be checked.
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        duplicates: list[tuple[str, str]] = []
        if node is not None:
            _find_duplicates(node, "", duplicates)
        document = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"(syntax) {where}{what}"], source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"(syntax) not valid YAML: {type(exc).__name__}"], source) from None
    finally:
        loader.dispose()
    return document, duplicates


def _find_duplicates(node: yaml.Node, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = f"{path}.{key}" if path else key
            if key in seen:
                line = key_node.start_mark.line + 1
                out.append((child, f"duplicate key on line {line} (only one may be given)"))
            seen.add(key)
            _find_duplicates(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, f"{path}[{index}]", out)
