"""Start-up of a store: base directories and removal of this worker's leftover temp files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocol.errors import RemoteError
from protocol.layout import tmp_prefix
from tests.workers.blob.support import NODE
from workers.blob.store import BlobStore


def test_creates_base_directories(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path), node=NODE, index=0)
    assert store.prepare() == 0
    for name in ("blobs", "tmp", "quarantine"):
        assert (tmp_path / name).is_dir()
    assert store.prepare() == 0  # idempotent


def test_removes_only_this_workers_leftovers(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    mine = [tmp_path / "tmp" / f"{tmp_prefix(NODE, 3)}{suffix}" for suffix in ("abc123", "zz")]
    others = [
        tmp_path / "tmp" / f"{tmp_prefix(NODE, 4)}abc",  # another worker of this node
        tmp_path / "tmp" / f"{tmp_prefix('othernode', 3)}abc",  # same index, another node
        tmp_path / "tmp" / f"{tmp_prefix(NODE, 31)}abc",  # index 31 starts like 3 but isn't
        tmp_path / "tmp" / "unrelated",
    ]
    for path in [*mine, *others]:
        path.write_bytes(b"partial upload")
    (tmp_path / "tmp" / f"{tmp_prefix(NODE, 3)}dir").mkdir()  # not a file: left alone
    store = BlobStore(str(tmp_path), node=NODE, index=3)
    assert store.prepare() == 2
    assert sorted(os.listdir(tmp_path / "tmp")) == sorted(
        [p.name for p in others] + [f"{tmp_prefix(NODE, 3)}dir"]
    )


def test_missing_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "absent"), node=NODE, index=0)
    with pytest.raises(RemoteError, match="does not exist"):
        store.prepare()
    assert not (tmp_path / "absent").exists()


def test_a_file_where_a_directory_belongs_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tmp").write_bytes(b"")
    with pytest.raises(RemoteError, match="not a directory"):
        BlobStore(str(tmp_path), node=NODE, index=0).prepare()


def test_temp_names_carry_the_worker_prefix(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path), node=NODE, index=7)
    store.prepare()
    fd, path = store.create_temp()
    os.close(fd)
    name = os.path.basename(path)
    assert os.path.dirname(path) == str(tmp_path / "tmp")
    assert name.startswith(tmp_prefix(NODE, 7)) and len(name) > len(tmp_prefix(NODE, 7))
    assert os.stat(path).st_mode & 0o777 == 0o600
    store.discard_temp(None, path)
    store.discard_temp(None, path)  # already gone: fine
    assert os.listdir(tmp_path / "tmp") == []


def test_prefixes_of_nodes_never_overlap() -> None:
    # Node "x" worker 1 must not claim the temp files of node "x-w1" worker 0 (shared dirs).
    assert not tmp_prefix("x-w1", 0).startswith(tmp_prefix("x", 1))
    assert not tmp_prefix("x", 1).startswith(tmp_prefix("x-w1", 0))
