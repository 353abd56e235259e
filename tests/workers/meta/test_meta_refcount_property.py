"""Property: after any sequence of overwrites, deletes, dedup, refused writes, versioning
changes, version deletes, delete markers and multipart uploads (parts, replaced parts,
completes, aborts), every blob's refcount equals the number of references held by all
versions and all pending parts, and the listings match a plain Python model."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocol.errors import RemoteError
from protocol.meta import (
    BlobRef,
    CommitObject,
    CompletedPart,
    CompleteMultipartUpload,
    RegisterPart,
)
from tests.workers.meta.meta_support import (
    ENGINES,
    big,
    blob_refcounts,
    multipart_etag,
    open_engine,
    start_upload,
    write_blob,
)
from workers.meta.store import MetaStore
from workers.meta.upload_rules import MIN_PART_SIZE

pytestmark = pytest.mark.anyio

# Content 0 is a full-size part (5 MiB), so completes can have several parts.
CONTENTS = [big("B"), *(f"content-{i}".encode() * (i + 1) for i in range(1, 6))]
KEYS = ["a", "b", "c/d", "é"]
CONTENT_BY_SHA = {hashlib.sha256(data).hexdigest(): data for data in CONTENTS}
GHOST = BlobRef(sha256="0" * 64, size=1)  # never written: its commit is refused
content = st.integers(0, len(CONTENTS) - 1)
pick = st.integers(0, 7)

put_op = st.tuples(
    st.just("put"),
    st.sampled_from(KEYS),
    st.lists(st.integers(1, len(CONTENTS) - 1), max_size=3),
    st.sampled_from([None, "*", "match"]),
)
programs = st.lists(
    st.one_of(
        put_op,
        st.tuples(st.just("delete"), st.sampled_from(KEYS)),
        st.tuples(st.just("delete_many"), st.lists(st.sampled_from(KEYS), min_size=1)),
        st.tuples(st.just("ghost"), st.sampled_from(KEYS)),
        st.tuples(st.just("versioning"), st.sampled_from(["Enabled", "Suspended"])),
        st.tuples(st.just("delete_version"), st.sampled_from(KEYS), pick),
        st.tuples(st.just("mpu_create"), st.sampled_from(KEYS)),
        st.tuples(st.just("mpu_part"), pick, st.integers(1, 3), content),
        st.tuples(st.just("mpu_complete"), pick, st.integers(0, 7), st.sampled_from([None, "*"])),
        st.tuples(st.just("mpu_abort"), pick),
    ),
    max_size=30,
)


@dataclass
class Version:
    version_id: str
    blobs: list[BlobRef]
    etag: str
    marker: bool = False


@dataclass
class Model:
    versioning: str = ""
    objects: dict[str, list[Version]] = field(default_factory=dict)  # newest first
    uploads: dict[str, tuple[str, dict[int, BlobRef]]] = field(default_factory=dict)

    def exists(self, key: str) -> bool:
        versions = self.objects.get(key, [])
        return bool(versions) and not versions[0].marker

    def write(self, key: str, version: Version) -> None:
        versions = self.objects.setdefault(key, [])
        if self.versioning != "Enabled":
            versions[:] = [v for v in versions if v.version_id != "null"]
        versions.insert(0, version)

    def upload(self, index: int) -> str | None:
        ids = list(self.uploads)
        return ids[index % len(ids)] if ids else None


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs)
# Always run once: every kind of operation succeeding, across all versioning states.
@example(
    program=[
        ("put", "a", [1], None),
        ("versioning", "Enabled"),
        ("put", "a", [2, 2], "match"),
        ("mpu_create", "a"),
        ("mpu_part", 0, 1, 0),
        ("mpu_part", 0, 2, 3),
        ("mpu_part", 0, 2, 4),
        ("mpu_create", "b"),
        ("mpu_part", 1, 1, 5),
        ("mpu_complete", 0, 3, None),
        ("delete", "a"),
        ("delete_version", "a", 1),
        ("versioning", "Suspended"),
        ("put", "a", [3], None),
        ("delete_many", ["a", "b"]),
        ("mpu_complete", 0, 1, "*"),
        ("delete_version", "a", 0),
        ("mpu_abort", 0),
        ("ghost", "c/d"),
    ]
)
async def test_refcounts_match_a_dict_model(engine: str, program: list[tuple[object, ...]]) -> None:
    base = Path(tempfile.mkdtemp(prefix="meta-prop-"))
    try:
        await _check_program(engine, base, program)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _check_program(engine: str, base: Path, program: list[tuple[object, ...]]) -> None:
    model = Model()
    async with open_engine(engine, base) as store:
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")
        refs = [write_blob(base, data) for data in CONTENTS]
        for step, op in enumerate(program):
            await _apply(store, owner, model, refs, step, op)
        await _compare(store, owner, model)


async def _apply(
    store: MetaStore,
    owner: str,
    model: Model,
    refs: list[BlobRef],
    step: int,
    op: tuple[object, ...],
) -> None:
    match op:
        case ("put", str(key), list(picks), condition):
            blobs = [refs[i] for i in picks]
            etag = f"etag-{step}"
            req = CommitObject(
                principal=owner,
                bucket="alpha",
                key=key,
                size=sum(r.size for r in blobs),
                etag=etag,
                blobs=blobs,
            )
            expect_ok = True
            if condition == "*":
                req.if_none_match = "*"
                expect_ok = not model.exists(key)
            elif condition == "match":
                req.if_match = model.objects[key][0].etag if model.exists(key) else "nope"
                expect_ok = model.exists(key)
            try:
                info = await store.commit_object(req)
            except RemoteError as exc:
                assert not expect_ok, exc
                assert exc.error_code in ("PreconditionFailed", "NoSuchKey")
            else:
                assert expect_ok
                model.write(key, Version(info.version_id or "null", blobs, etag))
        case ("delete", str(key)):
            deleted = await store.delete_object(owner, "alpha", key)
            _model_delete(model, key, deleted.version_id)
        case ("delete_many", list(keys)):
            result = await store.delete_objects(owner, "alpha", keys)
            assert result.errors == []
            for key, deleted in zip(keys, result.deleted, strict=True):
                _model_delete(model, str(key), deleted.version_id)
        case ("ghost", str(key)):
            with pytest.raises(RemoteError) as refused:
                await store.commit_object(
                    CommitObject(
                        principal=owner,
                        bucket="alpha",
                        key=key,
                        size=GHOST.size + refs[1].size,
                        etag="ghost",
                        blobs=[refs[1], GHOST],
                    )
                )
            assert refused.value.error_code == "BlobMissing"
        case ("versioning", str(status)):
            await store.put_bucket_versioning(owner, "alpha", status)
            model.versioning = status
        case ("delete_version", str(key), int(index)):
            versions = model.objects.get(key, [])
            target = versions[index % len(versions)] if versions else None
            version_id = target.version_id if target else "1" * 32
            deleted = await store.delete_object(owner, "alpha", key, version_id)
            assert deleted.delete_marker == bool(target and target.marker)
            if target:
                versions.remove(target)
        case ("mpu_create", str(key)):
            model.uploads[await start_upload(store, owner, "alpha", key)] = (key, {})
        case ("mpu_part", int(index), int(number), int(which)):
            upload_id = model.upload(index)
            if upload_id is not None:
                key, parts = model.uploads[upload_id]
                await store.register_part(
                    RegisterPart(
                        principal=owner,
                        bucket="alpha",
                        key=key,
                        upload_id=upload_id,
                        part_number=number,
                        blob=refs[which],
                    )
                )
                parts[number] = refs[which]
        case ("mpu_complete", int(index), int(mask), condition):
            upload_id = model.upload(index)
            if upload_id is not None:
                await _complete(store, owner, model, upload_id, mask, condition)
        case ("mpu_abort", int(index)):
            upload_id = model.upload(index)
            if upload_id is not None:
                key, _ = model.uploads.pop(upload_id)
                await store.abort_multipart_upload(owner, "alpha", key, upload_id)
        case _:
            raise AssertionError(f"unknown op {op!r}")


def _model_delete(model: Model, key: str, version_id: str | None) -> None:
    versions = model.objects.setdefault(key, [])
    if model.versioning != "Enabled":
        versions[:] = [v for v in versions if v.version_id != "null"]
    if model.versioning:
        assert version_id is not None
        versions.insert(0, Version(version_id, [], "", marker=True))


async def _complete(
    store: MetaStore, owner: str, model: Model, upload_id: str, mask: int, condition: object
) -> None:
    key, parts = model.uploads[upload_id]
    numbers = sorted(parts)
    chosen = [n for i, n in enumerate(numbers) if mask >> i & 1] or numbers[-1:]
    expected = "ok"
    if not chosen:
        expected = "MalformedXML"
    elif any(parts[n].size < MIN_PART_SIZE for n in chosen[:-1]):
        expected = "EntityTooSmall"
    elif condition == "*" and model.exists(key):
        expected = "PreconditionFailed"
    req = CompleteMultipartUpload(
        principal=owner,
        bucket="alpha",
        key=key,
        upload_id=upload_id,
        parts=[CompletedPart(part_number=n, etag=parts[n].md5) for n in chosen],
        if_none_match=condition if isinstance(condition, str) else None,
    )
    try:
        info = await store.complete_multipart_upload(req)
    except RemoteError as exc:
        assert exc.error_code == expected, exc
        return
    assert expected == "ok"
    blobs = [parts[n] for n in chosen]
    bodies = [CONTENT_BY_SHA[ref.sha256] for ref in blobs]
    assert info.etag == multipart_etag(bodies)
    model.write(key, Version(info.version_id or "null", blobs, info.etag))
    del model.uploads[upload_id]


async def _compare(store: MetaStore, owner: str, model: Model) -> None:
    expected: dict[str, int] = {}
    held = [v.blobs for versions in model.objects.values() for v in versions]
    held += [list(parts.values()) for _, parts in model.uploads.values()]
    for blobs in held:
        for ref in blobs:
            expected[ref.sha256] = expected.get(ref.sha256, 0) + 1
    counts = await blob_refcounts(store)
    assert {sha: n for sha, n in counts.items() if n} == expected
    assert GHOST.sha256 not in counts
    orphans = {row.sha256 for row in await store.orphaned_blobs(float("inf"), 100)}
    assert orphans == {sha for sha, n in counts.items() if n == 0}
    listed = await store.list_objects(owner, "alpha")
    assert {o.key: o.etag for o in listed.contents} == {
        key: versions[0].etag for key, versions in model.objects.items() if model.exists(key)
    }
    versions = await store.list_object_versions(owner, "alpha")
    order = sorted((k for k, v in model.objects.items() if v), key=lambda k: k.encode())
    assert [(v.key, v.version_id, v.delete_marker, v.is_latest) for v in versions.versions] == [
        (key, v.version_id, v.marker, i == 0)
        for key in order
        for i, v in enumerate(model.objects[key])
    ]
