"""Rows to replies and back, for every engine: the JSON columns' codecs, what a version holds,
and the mapping of selected columns (in the order each engine's SELECT lists them) to the
protocol's ObjectInfo, BucketInfo and listing summaries. Engines hand rows over with keys
already decoded to str and may use 0/1 or booleans for flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from protocol.meta import (
    BlobRef,
    BucketInfo,
    CommitObject,
    ObjectInfo,
    ObjectSummary,
    UploadSummary,
    VersionSummary,
)

encode_json = msgspec.json.Encoder().encode
decode_blobs = msgspec.json.Decoder(list[BlobRef]).decode
decode_map = msgspec.json.Decoder(dict[str, str]).decode
decode_info = msgspec.json.Decoder(ObjectInfo).decode
decode_part_list = msgspec.json.Decoder(list[tuple[int, str]]).decode

Row = tuple[Any, ...]


def text(value: Any) -> str:
    """A value as the JSON text stored in a TEXT column."""
    return encode_json(value).decode("utf-8")


@dataclass(frozen=True, slots=True)
class Content:
    """What a new (non-marker) version holds. Its blob references must already be taken."""

    size: int
    etag: str
    blobs: list[BlobRef]
    headers: dict[str, str] = field(default_factory=dict)
    user_meta: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"

    @classmethod
    def of_commit(cls, req: CommitObject) -> Content:
        """What a CommitObject writes (both engines build it the same way)."""
        return cls(
            size=req.size,
            etag=req.etag.strip('"'),
            blobs=list(req.blobs),
            headers=dict(req.headers),
            user_meta=dict(req.user_meta),
            checksums=dict(req.checksums),
            storage_class=req.storage_class or "STANDARD",
        )

    @classmethod
    def of_parts(
        cls, refs: list[BlobRef], size: int, etag: str, upload: Any, sums: dict[str, str]
    ) -> Content:
        """What a completed multipart upload writes: its chosen parts' blobs, in order."""
        return cls(
            size=size,
            etag=etag,
            blobs=refs,
            headers=upload.headers,
            user_meta=upload.user_meta,
            checksums=sums,
            storage_class=upload.storage_class,
        )


# The columns of an object version row, in this order: key, version_id, delete_marker,
# size, etag, last_modified, blobs, headers, user_meta, checksums, storage_class, owner_id,
# owner name (joined, '' when unknown), corrupt.
VERSION_COLUMNS = 14


def object_info(bucket: str, versioning: str, row: Row) -> ObjectInfo:
    (key, version_id, marker, size, etag, modified, blob_list) = row[:7]
    (headers, user_meta, checksums, storage_class, owner_id, owner_name, corrupt) = row[7:]
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=size,
        etag=etag,
        last_modified=modified,
        blobs=decode_blobs(blob_list),
        headers=decode_map(headers),
        user_meta=decode_map(user_meta),
        checksums=decode_map(checksums),
        storage_class=storage_class,
        # A never-versioned bucket has no version ids on the wire, as on AWS.
        version_id=version_id if versioning else None,
        delete_marker=bool(marker),
        owner_id=owner_id,
        owner_name=owner_name,
        corrupt=bool(corrupt),
    )


def wire_version(bucket: BucketInfo, version_id: str) -> str | None:
    """The version id a reply carries: none at all in a never-versioned bucket."""
    return version_id if bucket.versioning else None


def committed_info(
    bucket: BucketInfo,
    key: str,
    content: Content,
    *,
    version_id: str,
    now: float,
    owner_id: str,
    owner_name: str,
) -> ObjectInfo:
    """The reply to a commit or a completion: the version just written."""
    return ObjectInfo(
        bucket=bucket.name,
        key=key,
        size=content.size,
        etag=content.etag,
        last_modified=round(now, 3),
        blobs=content.blobs,
        headers=content.headers,
        user_meta=content.user_meta,
        checksums=content.checksums,
        storage_class=content.storage_class,
        version_id=wire_version(bucket, version_id),
        owner_id=owner_id,
        owner_name=owner_name,
    )


# name, owner_id, owner name, created, region, acl, versioning
def bucket_info(row: Row) -> BucketInfo:
    name, owner_id, owner_name, created, region, acl, versioning = row
    return BucketInfo(
        name=name,
        owner_id=owner_id,
        owner_name=owner_name,
        created=created,
        region=region,
        acl=acl,
        versioning=versioning,
    )


# ListObjects rows, both engines: key, size, etag, last_modified, storage_class, owner_id,
# delete_marker. Owner names are looked up once per page, not joined to every row.
OBJECT_DELETE_MARKER = 6


def object_summaries(rows: list[Row], owner_names: Mapping[str, str]) -> list[ObjectSummary]:
    """ListObjects rows with each owner's name from `owner_names`: '' for an owner without
    one, as a LEFT JOIN of users gives."""
    name = owner_names.get
    return [
        ObjectSummary(
            key=key,
            size=size,
            etag=etag,
            last_modified=modified,
            storage_class=storage_class,
            owner_id=owner_id,
            owner_name=name(owner_id, ""),
        )
        for key, size, etag, modified, storage_class, owner_id, _ in rows
    ]


# key, version_id, is_latest, delete_marker, size, etag, last_modified, storage_class,
# owner_id, owner name (seq after)
def version_summary(row: Row) -> VersionSummary:
    key, version_id, is_latest, marker, size, etag, modified, storage_class = row[:8]
    return VersionSummary(
        key=key,
        version_id=version_id,
        is_latest=bool(is_latest),
        delete_marker=bool(marker),
        size=size,
        etag=etag,
        last_modified=modified,
        storage_class=storage_class,
        owner_id=row[8],
        owner_name=row[9],
    )


# key, upload_id, initiated, storage_class, owner_id, owner name, checksum_algorithm
def upload_summary(row: Row) -> UploadSummary:
    key, upload_id, initiated, storage_class, owner_id, owner_name, algorithm = row
    return UploadSummary(
        key=key,
        upload_id=upload_id,
        initiated=initiated,
        storage_class=storage_class,
        owner_id=owner_id,
        owner_name=owner_name,
        checksum_algorithm=algorithm,
    )


@dataclass(frozen=True, slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    owner_id: str
    headers: dict[str, str]
    user_meta: dict[str, str]
    storage_class: str
    checksum_algorithm: str | None
    checksum_type: str | None
    completed_at: float | None
    completed_parts: str | None
    result: str | None


# The upload columns, in Upload's field order (headers and user_meta as JSON text).
UPLOAD_COLUMNS = (
    "upload_id, bucket, key, initiated, owner_id, headers, user_meta, storage_class,"
    " checksum_algorithm, checksum_type, completed_at, completed_parts, result"
)


def upload(row: Row) -> Upload:
    values = list(row)
    values[5], values[6] = decode_map(values[5]), decode_map(values[6])
    return Upload(*values)
