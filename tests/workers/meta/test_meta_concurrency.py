"""Conformance: many concurrent writers (group commit), durability across reopen, and the
atomicity of conditional writes under contention. Runs on both anyio backends: the writer's
answers cross from its thread into whichever event loop is waiting."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from protocol.meta import CommitObject, ListMultipartUploads
from tests.workers.meta.meta_support import (
    add_part,
    blob_refcounts,
    etag_of,
    finish_upload,
    multipart_etag,
    open_engine,
    race,
    start_upload,
    write_blob,
)

pytestmark = pytest.mark.anyio


async def test_200_concurrent_commits_are_all_durable(engine: str, tmp_path: Path) -> None:
    base = tmp_path / "data"
    acknowledged: dict[str, str] = {}
    async with open_engine(engine, base) as store:
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")
        shared = write_blob(base, b"shared")

        async def commit(i: int) -> None:
            own = write_blob(base, f"object {i}".encode())
            info = await store.commit_object(
                CommitObject(
                    principal=owner,
                    bucket="alpha",
                    key=f"key/{i:03d}",
                    size=own.size + shared.size,
                    etag=f"etag-{i}",
                    blobs=[own, shared],
                )
            )
            acknowledged[info.key] = info.etag

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(commit, i)
        assert len(acknowledged) == 200

    # A fresh open of the same database sees every acknowledged row and exact refcounts.
    async with open_engine(engine, base) as store:
        listed = await store.list_objects(owner, "alpha", max_keys=1000)
        assert {o.key: o.etag for o in listed.contents} == acknowledged
        counts = await blob_refcounts(store)
        assert counts[shared.sha256] == 200
        assert sum(counts.values()) == 400


async def test_conditional_create_race_has_exactly_one_winner(engine: str, tmp_path: Path) -> None:
    base = tmp_path / "data"
    async with open_engine(engine, base) as store:
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")

        async def attempt(i: int) -> None:
            data = f"candidate {i}".encode()
            ref = write_blob(base, data)
            await store.commit_object(
                CommitObject(
                    principal=owner,
                    bucket="alpha",
                    key="lock",
                    size=ref.size,
                    etag=etag_of(data),
                    blobs=[ref],
                    if_none_match="*",
                )
            )

        winners, refused = await race(50, attempt)
        assert len(winners) == 1
        assert refused == ["PreconditionFailed"] * 49
        info = await store.get_object_info(owner, "alpha", "lock")
        assert info.etag == etag_of(f"candidate {winners[0]}".encode())
        counts = await blob_refcounts(store)
        assert counts[info.blobs[0].sha256] == 1
        # Every loser's upload is an orphan for GC, none is referenced.
        assert sorted(counts.values()) == [0] * 49 + [1]


async def test_concurrent_conditional_completes_have_exactly_one_winner(
    engine: str, tmp_path: Path
) -> None:
    base = tmp_path / "data"
    async with open_engine(engine, base) as store:
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")
        uploads: list[tuple[str, str]] = []  # (upload id, part etag)
        for i in range(20):
            upload_id = await start_upload(store, owner, "alpha", "lock")
            part = await add_part(store, owner, "alpha", "lock", upload_id, 1, f"body {i}".encode())
            uploads.append((upload_id, part.md5))

        async def attempt(i: int) -> None:
            upload_id, etag = uploads[i]
            await finish_upload(
                store, owner, "alpha", "lock", upload_id, [(1, etag)], if_none_match="*"
            )

        winners, refused = await race(20, attempt)
        assert len(winners) == 1
        assert refused == ["PreconditionFailed"] * 19
        info = await store.get_object_info(owner, "alpha", "lock")
        assert info.etag == multipart_etag([f"body {winners[0]}".encode()])
        # The winner's part is held by the object; each loser's upload still holds its own.
        counts = await blob_refcounts(store)
        assert sorted(counts.values()) == [1] * 20
        listed = await store.list_multipart_uploads(
            ListMultipartUploads(principal=owner, bucket="alpha")
        )
        assert sorted(u.upload_id for u in listed.uploads) == sorted(
            uid for n, (uid, _) in enumerate(uploads) if n != winners[0]
        )
