"""Helpers shared by the meta-store tests: engines to open, real blob files, commits."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from protocol.lifecycle import DatabaseSettings
from protocol.meta import (
    BlobRef,
    CommitObject,
    CompletedPart,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    ObjectInfo,
    RegisterPart,
)
from workers.layout import blob_dir, blob_path
from workers.meta.engines import open_store
from workers.meta.store import MetaStore

MASTER_KEY = "6a" * 32
# Every engine the conformance suite runs against. Adding PostgreSQL means adding its name
# here and a branch in open_engine (with a `postgres` mark so it runs where the server is).
ENGINES = ["sqlite"]


@asynccontextmanager
async def open_engine(engine: str, base: Path) -> AsyncIterator[MetaStore]:
    if engine == "sqlite":
        async with open_store(str(base), DatabaseSettings(), MASTER_KEY) as store:
            yield store
        return
    raise ValueError(f"no test harness for engine {engine!r}")


def write_blob(base: str | Path, data: bytes) -> BlobRef:
    """Store `data` at its content address, as a blob worker would."""
    sha = hashlib.sha256(data).hexdigest()
    os.makedirs(blob_dir(str(base), sha), exist_ok=True)
    with open(blob_path(str(base), sha), "wb") as handle:
        handle.write(data)
    return BlobRef(sha256=sha, size=len(data), md5=hashlib.md5(data).hexdigest())


def etag_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class World:
    """A store with two users: alice owns bucket "alpha", bob owns nothing yet."""

    store: MetaStore
    alice: str
    bob: str


async def put(
    store: MetaStore,
    principal: str | None,
    bucket: str,
    key: str,
    data: bytes = b"hello",
    **extra: object,
) -> ObjectInfo:
    ref = write_blob(store.base_path, data)
    req = CommitObject(
        principal=principal,
        bucket=bucket,
        key=key,
        size=len(data),
        etag=etag_of(data),
        blobs=[ref],
        **extra,  # type: ignore[arg-type]
    )
    return await store.commit_object(req)


async def blob_refcounts(store: MetaStore) -> dict[str, int]:
    counts: dict[str, int] = {}
    after = ""
    while rows := await store.blob_page(after, 500):
        counts.update({row.sha256: row.refcount for row in rows})
        after = rows[-1].sha256
    return counts


MIB = 1024 * 1024


def big(tag: str, size: int = 5 * MIB) -> bytes:
    """A part body of `size` bytes (5 MiB by default: the smallest non-last part)."""
    seed = tag.encode()
    return (seed * (size // len(seed) + 1))[:size]


async def start_upload(
    store: MetaStore, principal: str | None, bucket: str, key: str, **extra: object
) -> str:
    created = await store.create_multipart_upload(
        CreateMultipartUpload(principal=principal, bucket=bucket, key=key, **extra)  # type: ignore[arg-type]
    )
    return created.upload_id


async def add_part(
    store: MetaStore,
    principal: str | None,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    data: bytes,
    checksums: dict[str, str] | None = None,
) -> BlobRef:
    ref = write_blob(store.base_path, data)
    registered = await store.register_part(
        RegisterPart(
            principal=principal,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_number=number,
            blob=ref,
            checksums=checksums or {},
        )
    )
    assert registered.etag == ref.md5
    return ref


async def finish_upload(
    store: MetaStore,
    principal: str | None,
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[tuple[int, str]],
    **extra: object,
) -> ObjectInfo:
    return await store.complete_multipart_upload(
        CompleteMultipartUpload(
            principal=principal,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            parts=[CompletedPart(part_number=n, etag=etag) for n, etag in parts],
            **extra,  # type: ignore[arg-type]
        )
    )


def multipart_etag(bodies: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(body).digest() for body in bodies)
    return f"{hashlib.md5(joined).hexdigest()}-{len(bodies)}"
