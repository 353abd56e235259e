"""rclone (Debian package) against the real daemon over http and https.

rclone checks every single-part upload's ETag against the MD5 it computed and `rclone check`
compares MD5s both sides, so a wrong ETag shows up here as corruption. The upload cutoff is 64M
so every upload is a single PUT (multipart has its own suite, test_multipart.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.clients import Rclone, sample_files, tree_digests, write_tree
from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def rclone(ep: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Rclone:
    return Rclone(ep, tmp_path_factory.mktemp("rclone-home"))


@pytest.fixture
def bucket(rclone: Rclone) -> str:
    name = f"rc-{os.urandom(4).hex()}"
    rclone("mkdir", f"x:{name}")
    return name


def lsf(rclone: Rclone, remote: str) -> list[str]:
    return sorted(rclone("lsf", "-R", "--files-only", remote).stdout.splitlines())


def test_copy_check_and_back(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    files = sample_files("rclone")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    rclone("copy", str(src), f"x:{bucket}/c")
    # --download re-reads every object and compares bytes, on top of the MD5 (ETag) comparison.
    rclone("check", str(src), f"x:{bucket}/c")
    rclone("check", "--download", str(src), f"x:{bucket}/c")
    rclone("copy", f"x:{bucket}/c", str(dst))
    assert tree_digests(dst) == tree_digests(src)


def test_ls_and_lsf(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    files = sample_files("ls")
    write_tree(tmp_path, files)
    rclone("copy", str(tmp_path), f"x:{bucket}")
    listed = {}
    for line in rclone("ls", f"x:{bucket}").stdout.splitlines():
        size, name = line.split(maxsplit=1)
        listed[name] = int(size)
    assert listed == {k: len(v) for k, v in files.items()}
    assert lsf(rclone, f"x:{bucket}") == sorted(files)
    top = sorted(rclone("lsf", f"x:{bucket}").stdout.splitlines())
    assert top == ["dir/", "empty.bin", "top.txt"]
    with_hash = rclone("lsf", "--format", "ph", "--hash", "MD5", f"x:{bucket}/dir").stdout
    assert "mid.bin;" in with_hash


def test_sync_deletes_extra(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    write_tree(tmp_path, sample_files("sync"))
    rclone("sync", str(tmp_path), f"x:{bucket}/s")
    (tmp_path / "top.txt").unlink()
    (tmp_path / "dir" / "mid.bin").write_bytes(b"replaced")
    rclone("sync", str(tmp_path), f"x:{bucket}/s")
    rclone("check", "--download", str(tmp_path), f"x:{bucket}/s")
    assert "top.txt" not in lsf(rclone, f"x:{bucket}/s")


def test_delete_and_purge(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    write_tree(tmp_path, sample_files("purge"))
    rclone("copy", str(tmp_path), f"x:{bucket}")
    rclone("delete", "--include", "*.txt", f"x:{bucket}")
    assert lsf(rclone, f"x:{bucket}") == ["dir/mid.bin", "dir/sub/deep file.dat", "empty.bin"]
    rclone("purge", f"x:{bucket}")
    buckets = rclone("lsd", "x:").stdout
    assert bucket not in buckets
    gone = rclone("ls", f"x:{bucket}", check=False)
    assert gone.returncode != 0
