"""Front <-> blob worker messages.

PUT:   PutBlob (MSG), DATA*, EndBlob (MSG)        ->  BlobStored | ErrorReply
GET:   ReadBlob (MSG)                             ->  BlobData (MSG), DATA*, END | ErrorReply
The bytes of a body only ever travel as DATA frames. Fronts serve GETs of stored blobs from
the store's files themselves (protocol.blobfile); ReadBlob is for readers that have no access
to them (tools, and blobs a front cannot read as stored, such as encrypted ones later).
"""

from __future__ import annotations

from protocol.base import Message

# Checksum algorithm names as S3 spells them in x-amz-checksum-<name> (lowercase).
CHECKSUM_ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


class PutBlob(Message):
    # Size the client announced (Content-Length or x-amz-decoded-content-length); None if
    # unknown. A body that ends short or long of it fails with IncompleteBody.
    expected_size: int | None = None
    content_md5: str | None = None  # base64, from Content-MD5
    content_sha256: str | None = None  # hex, from x-amz-content-sha256 when it is a hash
    # Algorithms to compute (lowercase names) and the values the headers gave (base64).
    checksum_algorithms: list[str] = []
    expected_checksums: dict[str, str] = {}


class EndBlob(Message):
    # Checksums that arrived in an aws-chunked trailer (base64), verified like headers.
    trailer_checksums: dict[str, str] = {}


class BlobStored(Message):
    sha256: str
    md5: str  # hex
    size: int
    checksums: dict[str, str] = {}  # algorithm -> base64, for every requested algorithm


class ReadBlob(Message):
    sha256: str
    offset: int = 0
    length: int | None = None  # None: to the end
    expected_size: int | None = None  # from metadata; a file of another size is corrupt


class BlobData(Message):
    length: int
