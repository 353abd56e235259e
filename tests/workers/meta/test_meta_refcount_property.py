"""Property: after any sequence of overwrites, deletes, dedup and refused writes, every blob's
refcount equals the number of references the live objects hold (checked against a dict)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import RemoteError
from protocol.meta import BlobRef, CommitObject
from tests.workers.meta.meta_support import ENGINES, blob_refcounts, open_engine, write_blob

pytestmark = pytest.mark.anyio

CONTENTS = [f"content-{i}".encode() * (i + 1) for i in range(6)]
KEYS = ["a", "b", "c/d", "é"]
GHOST = BlobRef(sha256="0" * 64, size=1)  # never written: its commit is refused

put_op = st.tuples(
    st.just("put"),
    st.sampled_from(KEYS),
    st.lists(st.integers(0, len(CONTENTS) - 1), max_size=3),
    st.sampled_from([None, "*", "match"]),
)
delete_op = st.tuples(st.just("delete"), st.sampled_from(KEYS))
delete_many_op = st.tuples(st.just("delete_many"), st.lists(st.sampled_from(KEYS), min_size=1))
ghost_op = st.tuples(st.just("ghost"), st.sampled_from(KEYS))
programs = st.lists(st.one_of(put_op, delete_op, delete_many_op, ghost_op), max_size=25)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs)
async def test_refcounts_match_a_dict_model(engine: str, program: list[tuple[object, ...]]) -> None:
    base = Path(tempfile.mkdtemp(prefix="meta-prop-"))
    try:
        await _check_program(engine, base, program)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _check_program(engine: str, base: Path, program: list[tuple[object, ...]]) -> None:
    model: dict[str, tuple[list[BlobRef], str]] = {}  # key -> (blobs, etag)
    async with open_engine(engine, base) as store:
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")
        refs = [write_blob(base, data) for data in CONTENTS]
        for step, op in enumerate(program):
            match op:
                case ("put", str(key), list(picks), condition):
                    blobs = [refs[i] for i in picks]
                    etag = f"etag-{step}"
                    expect_ok = True
                    req = CommitObject(
                        principal=owner,
                        bucket="alpha",
                        key=key,
                        size=sum(r.size for r in blobs),
                        etag=etag,
                        blobs=blobs,
                    )
                    if condition == "*":
                        req.if_none_match = "*"
                        expect_ok = key not in model
                    elif condition == "match":
                        req.if_match = model[key][1] if key in model else "nope"
                        expect_ok = key in model
                    try:
                        await store.commit_object(req)
                    except RemoteError as exc:
                        assert not expect_ok, exc
                        assert exc.error_code in ("PreconditionFailed", "NoSuchKey")
                    else:
                        assert expect_ok
                        model[key] = (blobs, etag)
                case ("delete", str(key)):
                    await store.delete_object(owner, "alpha", key)
                    model.pop(key, None)
                case ("delete_many", list(keys)):
                    await store.delete_objects(owner, "alpha", keys)
                    for key in keys:
                        model.pop(key, None)
                case ("ghost", str(key)):
                    with pytest.raises(RemoteError) as refused:
                        await store.commit_object(
                            CommitObject(
                                principal=owner,
                                bucket="alpha",
                                key=key,
                                size=GHOST.size + refs[0].size,
                                etag="ghost",
                                blobs=[refs[0], GHOST],
                            )
                        )
                    assert refused.value.error_code == "BlobMissing"
                case _:
                    raise AssertionError(f"unknown op {op!r}")

        expected: dict[str, int] = {}
        for blobs, _ in model.values():
            for ref in blobs:
                expected[ref.sha256] = expected.get(ref.sha256, 0) + 1
        counts = await blob_refcounts(store)
        assert {sha: n for sha, n in counts.items() if n} == expected
        assert GHOST.sha256 not in counts
        orphans = {row.sha256 for row in await store.orphaned_blobs(float("inf"), 100)}
        assert orphans == {sha for sha, n in counts.items() if n == 0}
        listed = await store.list_objects(owner, "alpha")
        assert {o.key: o.etag for o in listed.contents} == {k: v[1] for k, v in model.items()}
