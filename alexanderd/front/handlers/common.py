"""Pieces several handlers share: bucket lookups with access checks, object headers."""

from __future__ import annotations

from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.request import Request
from alexanderd.front.s3types import DEFAULT_CONTENT_TYPE, http_date
from protocol.meta import BucketInfo, HeadBucket, ObjectInfo


def bucket_name(req: Request) -> str:
    assert req.bucket is not None  # the router sends only bucket requests here
    return req.bucket


def object_key(req: Request) -> str:
    assert req.key is not None
    return req.key


async def bucket_info(
    ctx: Context, req: Request, *, owner_only: bool = False, write: bool = False
) -> BucketInfo:
    """The bucket, after the meta process checked read (or write) access; owner_only for
    bucket configuration, which only the owner may read or change."""
    info = await ctx.meta.request(
        HeadBucket(rid=req.rid, principal=req.principal, bucket=bucket_name(req), write=write),
        BucketInfo,
    )
    if owner_only and req.principal != info.owner_id:
        raise s3_error("AccessDenied", "Access Denied")
    return info


def quoted(etag: str) -> str:
    return f'"{etag}"'


def object_headers(info: ObjectInfo, *, checksums: bool) -> list[tuple[str, str]]:
    """Headers GET and HEAD return for an object (before range and response-* overrides)."""
    headers = [
        ("ETag", quoted(info.etag)),
        ("Last-Modified", http_date(info.last_modified)),
        ("Accept-Ranges", "bytes"),
    ]
    stored = info.headers
    headers.append(("Content-Type", stored.get("content-type", DEFAULT_CONTENT_TYPE)))
    for name in (
        "content-encoding",
        "content-disposition",
        "content-language",
        "cache-control",
        "expires",
    ):
        if name in stored:
            headers.append((name.title(), stored[name]))
    for name, value in info.user_meta.items():
        headers.append((f"x-amz-meta-{name}", value))
    if info.storage_class != "STANDARD":
        headers.append(("x-amz-storage-class", info.storage_class))
    if info.version_id:
        headers.append(("x-amz-version-id", info.version_id))
    if len(info.blobs) > 1 or "-" in info.etag:
        headers.append(("x-amz-mp-parts-count", str(max(1, len(info.blobs)))))
    if checksums:
        for algo, value in info.checksums.items():
            headers.append((f"x-amz-checksum-{algo}", value))
        if info.checksums:
            kind = "COMPOSITE" if "-" in info.etag else "FULL_OBJECT"
            headers.append(("x-amz-checksum-type", kind))
    return headers
