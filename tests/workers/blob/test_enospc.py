"""A full filesystem (a real 2 MiB tmpfs): clean InsufficientStorage, nothing left behind, and
the worker goes on serving. Needs root to mount; without it these tests fail, loudly."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from protocol.errors import RemoteError
from tests.workers.blob.serving import serving
from tests.workers.blob.support import (
    MiB,
    blob_files,
    body,
    client_put,
    client_read,
    close_gracefully,
    new_store,
    stored_path,
    temp_files,
    upload,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a 2 MiB tmpfs for the ENOSPC tests: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(path: Path) -> None:
    """Write a file until the filesystem is full."""
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(b"\xff" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return


def assert_insufficient(error: RemoteError) -> None:
    assert error.error_code == "InsufficientStorage"
    assert error.message.startswith("Not enough storage space to ")
    assert "No space left on device" in error.message


@pytest.mark.parametrize("chunk", [MiB, 65536, 1000])
async def test_large_upload_on_a_full_disk(small_fs: Path, chunk: int) -> None:
    store = new_store(small_fs)
    with pytest.raises(RemoteError) as info:
        await upload(store, body(3 * MiB), chunk=chunk)
    assert_insufficient(info.value)
    assert temp_files(small_fs) == [] and blob_files(small_fs) == []
    data = body(MiB // 2)
    stored = await upload(store, data)  # the space came back with the temp file
    assert stored_path(small_fs, stored.sha256).read_bytes() == data


async def test_small_upload_failing_at_commit(small_fs: Path) -> None:
    store = new_store(small_fs)
    filler = small_fs / "filler"
    await anyio.to_thread.run_sync(fill, filler)
    with pytest.raises(RemoteError) as info:
        await upload(store, body(40000), chunk=4096)  # kept in memory, written at commit
    assert_insufficient(info.value)
    assert temp_files(small_fs) == [] and blob_files(small_fs) == []
    await anyio.to_thread.run_sync(os.unlink, filler)
    stored = await upload(store, body(40000), chunk=4096)
    assert stored.size == 40000


async def test_server_answers_and_goes_on(small_fs: Path) -> None:
    async with serving(small_fs) as served:
        chan = await served.connect()
        with pytest.raises(RemoteError) as info:
            await client_put(chan, body(3 * MiB), rid="too-big", expected_size=3 * MiB)
        assert_insufficient(info.value)
        assert temp_files(small_fs) == [] and blob_files(small_fs) == []
        data = body(300000, seed=5)
        stored = await client_put(chan, data)  # the same channel, still in sync
        assert await client_read(chan, stored.sha256, expected_size=len(data)) == data
        await close_gracefully(chan)
