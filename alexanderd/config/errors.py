"""Collect every config problem with its dotted key path and raise them together.

Loading never stops at the first mistake: each stage records what it found in a `Problems`
list and keeps going, so an operator fixes a config in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """The config is invalid; `problems` holds every problem as "dotted.key: what is wrong"."""

    def __init__(self, problems: Iterable[str], source: str | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"invalid configuration{where} ({count} {noun}):"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


class Problems:
    """An ordered list of (key path, message) found while loading one config."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []
        # Where a value came from when not the file itself ("from ALEXANDER_SERVER_PORT"),
        # so a message about it points at the place the operator has to edit.
        self.origins: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        origin = self.origins.get(path)
        label = f"{path} ({origin})" if origin else path
        self._items.append((path, f"{label or '(top level)'}: {message}"))

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def messages(self) -> list[str]:
        # Sorting by path groups each section's problems; the sort is stable, so problems
        # about one key keep the order in which they were found.
        return [message for _, message in sorted(self._items, key=lambda item: item[0])]

    def raise_if_any(self, source: str | None = None) -> None:
        if self._items:
            raise ConfigError(self.messages(), source)


def join_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def kind_of(value: object) -> str:
    """Name a parsed YAML value's type the way an operator reads it, never echoing it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"
