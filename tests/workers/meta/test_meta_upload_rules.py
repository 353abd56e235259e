"""Pure rules, no I/O: version and upload ids, CRC combination and composite checksums, the
part-list checks of a completion and the multipart ETag."""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import zlib
from collections.abc import Callable

import crc32c
import pytest
from awscrt import checksums as crt

from protocol.errors import RemoteError
from protocol.meta import CompletedPart
from workers.meta import checksums, ids, upload_rules
from workers.meta.upload_rules import MIN_PART_SIZE, StoredPart


def code(fn: object, *args: object) -> str:
    with pytest.raises(RemoteError) as exc:
        fn(*args)  # type: ignore[operator]
    return exc.value.error_code


def test_version_ids_sort_newest_first_and_round_trip() -> None:
    clock = ids.Clock()
    stamps = [clock.next() for _ in range(200)]
    assert stamps == sorted(set(stamps))  # strictly increasing even within one tick
    made = [ids.new_version_id(stamp) for stamp in stamps]
    assert sorted(made) == made[::-1]
    for stamp, version_id in zip(stamps, made, strict=True):
        assert len(version_id) == 32
        assert ids.is_version_id(version_id)
        assert ids.version_stamp(version_id) == stamp
    assert ids.is_version_id("null")
    for bad in ("", "NULL", "v123", made[0].upper(), made[0][:-1], made[0] + "0", "w" * 32):
        assert not ids.is_version_id(bad)
        assert code(ids.check_version_id, bad) == "InvalidArgument"
    with pytest.raises(ValueError):
        ids.version_stamp("null")


def test_upload_ids_sort_by_initiation_and_are_unguessable() -> None:
    clock = ids.Clock()
    made = [ids.new_upload_id(clock.next()) for _ in range(100)]
    assert sorted(made) == made
    assert len(set(made)) == 100
    assert all(ids.is_upload_id(u) and len(u) == 39 and u.isalnum() for u in made)
    # The random tails differ even for one stamp: 26 characters of 5 bits each.
    tails = {ids.new_upload_id(1)[ids.STAMP_CHARS :] for _ in range(50)}
    assert len(tails) == 50


def test_clock_is_monotonic_across_threads_and_seeds() -> None:
    clock = ids.Clock()
    far = 2**62
    clock.seed(far)
    assert clock.next() == far + 1
    seen: list[int] = []
    lock = threading.Lock()

    def draw() -> None:
        got = [clock.next() for _ in range(500)]
        with lock:
            seen.extend(got)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2000
    assert ids.decode(ids.encode(far, ids.STAMP_CHARS)) == far
    with pytest.raises(ValueError):
        ids.encode(32**3, 3)


def b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


CRCS = [
    ("crc32", zlib.crc32, 4),
    ("crc32c", crc32c.crc32c, 4),
    ("crc64nvme", crt.crc64nvme, 8),
]


@pytest.mark.parametrize(("algorithm", "crc", "size"), CRCS)
def test_full_object_crc_equals_the_crc_of_the_concatenation(
    algorithm: str, crc: object, size: int
) -> None:
    rng = random.Random(algorithm)
    for _ in range(30):
        parts = [rng.randbytes(rng.choice([0, 1, 7, 64, 1000])) for _ in range(rng.randint(1, 6))]
        values = [(b64(crc(part), size), len(part)) for part in parts]  # type: ignore[operator]
        whole = b64(crc(b"".join(parts)), size)  # type: ignore[operator]
        assert checksums.full_object(algorithm, values) == whole
    # Lengths far beyond memory combine too: x^(8n) by squaring, not by feeding bytes.
    assert checksums.combine_crc(algorithm, 0, 0, 2**40) == 0
    assert len(base64.b64decode(checksums.full_object(algorithm, [(b64(1, size), 2**50)]))) == size


def test_composite_checksums() -> None:
    parts = [b"first part", b"second part", b"third"]
    hashers: list[tuple[str, Callable[[bytes], bytes], int]] = [
        ("sha256", lambda d: hashlib.sha256(d).digest(), 32),
        ("sha1", lambda d: hashlib.sha1(d).digest(), 20),
        ("crc32", lambda d: zlib.crc32(d).to_bytes(4, "big"), 4),
        ("crc32c", lambda d: int(crc32c.crc32c(d)).to_bytes(4, "big"), 4),
    ]
    for algorithm, hasher, size in hashers:
        raw = [hasher(part) for part in parts]
        assert all(len(r) == size for r in raw)
        values = [base64.b64encode(r).decode() for r in raw]
        expected = base64.b64encode(hasher(b"".join(raw))).decode() + "-3"
        assert checksums.composite(algorithm, values) == expected
    with pytest.raises(ValueError):
        checksums.composite("crc64nvme", ["AAAAAAAAAAA="])
    with pytest.raises(ValueError):
        checksums.full_object("sha256", [])
    assert code(checksums.composite, "crc32", ["not base64!"]) == "InvalidRequest"
    assert code(checksums.composite, "crc32", [b64(1, 8)]) == "InvalidRequest"  # wrong size


def test_upload_checksum_settings() -> None:
    settings = checksums.upload_settings
    assert settings(None, None) == (None, None)
    assert settings("CRC32", None) == ("crc32", "COMPOSITE")
    assert settings("crc64nvme", None) == ("crc64nvme", "FULL_OBJECT")
    assert settings("crc32c", "full_object") == ("crc32c", "FULL_OBJECT")
    assert settings("sha1", "COMPOSITE") == ("sha1", "COMPOSITE")
    for algorithm, kind in (
        (None, "COMPOSITE"),
        ("md5", None),
        ("sha256", "FULL_OBJECT"),
        ("crc64nvme", "COMPOSITE"),
        ("crc32", "BOTH"),
    ):
        assert code(settings, algorithm, kind) == "InvalidRequest"


def part(number: int, size: int, md5: str = "", **sums: str) -> StoredPart:
    return StoredPart(number, "0" * 64, size, md5 or f"{number:032x}", dict(sums))


def listed(number: int, etag: str = "", **sums: str) -> CompletedPart:
    return CompletedPart(part_number=number, etag=etag or f'"{number:032X}"', checksums=sums)


def test_part_list_checks() -> None:
    assert code(upload_rules.check_part_list, []) == "MalformedXML"
    assert code(upload_rules.check_part_list, [listed(2), listed(1)]) == "InvalidPartOrder"
    assert code(upload_rules.check_part_list, [listed(1), listed(1)]) == "InvalidPartOrder"
    upload_rules.check_part_list([listed(1), listed(5), listed(10000)])
    for bad in (0, 10001, -1):
        assert code(upload_rules.check_part_number, bad) == "InvalidArgument"
    assert code(upload_rules.check_md5, "A" * 32) == "InvalidArgument"


def test_choose_parts() -> None:
    stored = {1: part(1, MIN_PART_SIZE), 2: part(2, MIN_PART_SIZE - 1), 3: part(3, 1)}
    chosen = upload_rules.choose_parts([listed(1), listed(3)], stored)
    assert [p.number for p in chosen] == [1, 3]
    assert code(upload_rules.choose_parts, [listed(4)], stored) == "InvalidPart"
    assert code(upload_rules.choose_parts, [listed(1, "0" * 32)], stored) == "InvalidPart"
    assert code(upload_rules.choose_parts, [listed(2), listed(3)], stored) == "EntityTooSmall"
    summed = {1: part(1, 3, crc32="AAAAAA==")}
    assert code(upload_rules.choose_parts, [listed(1, crc32="AAAAAQ==")], summed) == "InvalidPart"
    assert upload_rules.choose_parts([listed(1, CRC32="AAAAAA==")], summed) == [summed[1]]


def test_multipart_etag() -> None:
    bodies = [b"a" * 10, b"b" * 3]
    md5s = [hashlib.md5(body).hexdigest() for body in bodies]
    joined = b"".join(hashlib.md5(body).digest() for body in bodies)
    assert upload_rules.multipart_etag(md5s) == hashlib.md5(joined).hexdigest() + "-2"
    assert upload_rules.normal_etag(' "ABCdef" ') == "abcdef"


def test_object_checksums() -> None:
    parts = [
        part(1, 4, crc32=b64(zlib.crc32(b"abcd"), 4)),
        part(2, 2, crc32=b64(zlib.crc32(b"ef"), 4)),
    ]
    full = upload_rules.object_checksums("crc32", "FULL_OBJECT", [listed(1), listed(2)], parts)
    assert full == {"crc32": b64(zlib.crc32(b"abcdef"), 4)}
    with_sums = [listed(p.number, crc32=p.checksums["crc32"]) for p in parts]
    composite = upload_rules.object_checksums("crc32", "COMPOSITE", with_sums, parts)
    assert composite["crc32"].endswith("-2")
    missing = [with_sums[0], listed(2)]
    assert code(upload_rules.object_checksums, "crc32", "COMPOSITE", missing, parts) == (
        "InvalidRequest"
    )
    assert upload_rules.object_checksums(None, None, [listed(1), listed(2)], parts) == {}
    nvme = [part(1, 2, crc64nvme=b64(crt.crc64nvme(b"xy"), 8))]
    assert upload_rules.object_checksums(None, None, [listed(1)], nvme) == {
        "crc64nvme": b64(crt.crc64nvme(b"xy"), 8)
    }
