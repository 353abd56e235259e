"""Fixtures of the blob-worker tests: a prepared store in a temp data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.blob.support import new_store
from workers.blob.store import BlobStore


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store(base: Path) -> BlobStore:
    return new_store(base)
