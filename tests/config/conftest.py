"""The `parse` fixture: parse a config dict (merged into a minimal config) or YAML text."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from alexanderd.config import Config, parse_config
from tests.config.cfg_helpers import Parse, dump, merged


@pytest.fixture
def parse(tmp_path: Path) -> Parse:
    """Parse a dict (deep-merged into the minimal config) or raw YAML text; env defaults to {}."""

    def run(
        doc: Mapping[str, Any] | str | None = None, env: Mapping[str, str] | None = None
    ) -> Config:
        text = doc if isinstance(doc, str) else dump(merged(doc or {}))
        return parse_config(text, env={} if env is None else env, base_dir=tmp_path)

    return run
