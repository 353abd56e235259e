"""BodyHasher and the checksum encodings against botocore's own implementations."""

from __future__ import annotations

import base64
import hashlib

import pytest

from protocol.blob import CHECKSUM_ALGORITHMS
from protocol.errors import RemoteError
from tests.workers.blob.support import MiB, body, botocore_checksum, pieces
from workers.blob.checksum import BodyHasher, decode_checksum

SIZES = [0, 1, 3, 4096, MiB - 1, MiB + 1, 5 * MiB]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("algorithm", CHECKSUM_ALGORITHMS)
def test_each_algorithm_matches_botocore(algorithm: str, size: int) -> None:
    data = body(size)
    hasher = BodyHasher([algorithm])
    for piece in pieces(data, 65536 + 7):
        hasher.update(piece)
    assert hasher.checksums() == {algorithm: botocore_checksum(algorithm, data)}
    assert hasher.size == size


def test_all_algorithms_in_one_pass_and_md5_sha256() -> None:
    data = body(3 * MiB + 5)
    hasher = BodyHasher(CHECKSUM_ALGORITHMS)
    for piece in pieces(data, MiB):
        # The two lanes, as the writer drives them from two threads.
        hasher.update_md5(piece)
        hasher.update_others(piece)
    assert hasher.md5_hex() == hashlib.md5(data).hexdigest()
    assert hasher.sha256_hex() == hashlib.sha256(data).hexdigest()
    assert hasher.checksums() == {n: botocore_checksum(n, data) for n in CHECKSUM_ALGORITHMS}
    assert list(hasher.checksums()) == list(CHECKSUM_ALGORITHMS)


def test_chunking_does_not_change_digests() -> None:
    data = body(2 * MiB + 333)
    whole = BodyHasher(CHECKSUM_ALGORITHMS)
    whole.update(data)
    for size in (1, 1000, 4096, MiB):
        split = BodyHasher(CHECKSUM_ALGORITHMS)
        for piece in pieces(data[: 20000 if size == 1 else len(data)], size):
            split.update(memoryview(piece))
        reference = BodyHasher(CHECKSUM_ALGORITHMS)
        reference.update(data[: 20000 if size == 1 else len(data)])
        assert split.checksums() == reference.checksums()
        assert split.md5_hex() == reference.md5_hex()
    assert whole.checksums() == {n: botocore_checksum(n, data) for n in CHECKSUM_ALGORITHMS}


def test_known_vector_crc32_of_empty_and_hello() -> None:
    # Values S3 documents/returns for these bodies, independent of botocore.
    empty = BodyHasher(["crc32", "crc32c", "crc64nvme"])
    assert empty.checksums() == {
        "crc32": "AAAAAA==",
        "crc32c": "AAAAAA==",
        "crc64nvme": "AAAAAAAAAAA=",
    }
    hello = BodyHasher(["crc32", "sha256"])
    hello.update(b"hello")
    assert hello.checksums()["crc32"] == base64.b64encode((0x3610A686).to_bytes(4, "big")).decode()
    assert (
        hello.checksums()["sha256"] == base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    )


def test_no_algorithm_requested_gives_no_checksums() -> None:
    hasher = BodyHasher()
    hasher.update(b"abc")
    assert hasher.checksums() == {}
    assert hasher.md5_hex() == hashlib.md5(b"abc").hexdigest()


def test_duplicate_algorithms_are_computed_once() -> None:
    hasher = BodyHasher(["crc32", "crc32"])
    hasher.update(b"abc")
    assert hasher.algorithms == ("crc32",)
    assert hasher.checksums() == {"crc32": botocore_checksum("crc32", b"abc")}


@pytest.mark.parametrize("name", ["md5", "CRC32", "crc16", "", "xxhash64"])
def test_unsupported_algorithm_is_invalid_request(name: str) -> None:
    with pytest.raises(RemoteError) as info:
        BodyHasher([name])
    assert info.value.error_code == "InvalidRequest"
    assert repr(name) in info.value.message


@pytest.mark.parametrize("algorithm", CHECKSUM_ALGORITHMS)
def test_decode_checksum_round_trip(algorithm: str) -> None:
    value = botocore_checksum(algorithm, b"payload")
    assert base64.b64encode(decode_checksum(algorithm, value)).decode() == value


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("crc32", "not base64!"),
        ("crc32", "AAAAAAAA"),  # 6 bytes: base64 fine, wrong digest size
        ("crc64nvme", "AAAAAA=="),  # a crc32-sized value
        ("sha256", ""),
        ("sha1", "é"),
    ],
)
def test_decode_checksum_rejects_malformed_values(algorithm: str, value: str) -> None:
    with pytest.raises(RemoteError) as info:
        decode_checksum(algorithm, value)
    assert info.value.error_code == "InvalidRequest"
    assert info.value.message == f"Value for x-amz-checksum-{algorithm} header is invalid."
