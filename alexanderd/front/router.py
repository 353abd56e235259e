"""Which S3 operation a request is: method, bucket/key presence and sub-resource."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers import (
    bucket,
    config,
    listing,
    multipart,
    objects,
    service,
    upload,
)
from alexanderd.front.request import Request
from alexanderd.front.response import Response
from alexanderd.front.s3types import validate_key
from alexanderd.front.sigv4 import ParsedAuth, SigningContext

Handler = Callable[[Context, Request, SigningContext | None], Awaitable[Response]]


def _pick(req: Request) -> tuple[str, Handler]:
    q, m = req.query, req.method
    if req.bucket is None:
        if m == "GET":
            return "ListBuckets", service.list_buckets
        raise s3_error(
            "MethodNotAllowed", "The specified method is not allowed against this resource."
        )
    if req.key is None:
        return _pick_bucket(req, q, m)
    validate_key(req.key)
    if "uploadId" in q:
        return _pick_upload(req, q, m)
    if m == "POST" and "uploads" in q:
        return "CreateMultipartUpload", multipart.create_upload
    if m == "PUT":
        if "acl" in q:
            return "PutObjectAcl", objects.put_object_acl
        if "tagging" in q:
            return "PutObjectTagging", config.not_implemented
        if "x-amz-copy-source" in req.headers:
            return "CopyObject", objects.copy_object
        return "PutObject", upload.put_object
    if m == "GET":
        if "acl" in q:
            return "GetObjectAcl", objects.get_object_acl
        if "tagging" in q:
            return "GetObjectTagging", objects.get_object_tagging
        return "GetObject", objects.get_object
    if m == "HEAD":
        return "HeadObject", objects.head_object
    if m == "DELETE":
        if "tagging" in q:
            return "DeleteObjectTagging", config.not_implemented
        return "DeleteObject", objects.delete_object
    raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.")


def _pick_upload(req: Request, q: dict[str, str], m: str) -> tuple[str, Handler]:
    if m == "PUT" and "x-amz-copy-source" in req.headers:
        return "UploadPartCopy", multipart.upload_part_copy
    if m == "PUT":
        return "UploadPart", multipart.upload_part
    if m == "POST":
        return "CompleteMultipartUpload", multipart.complete_upload
    if m == "DELETE":
        return "AbortMultipartUpload", multipart.abort_upload
    if m == "GET":
        return "ListParts", multipart.list_parts
    raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.")


def _pick_bucket(req: Request, q: dict[str, str], m: str) -> tuple[str, Handler]:
    if m == "GET":
        if "location" in q:
            return "GetBucketLocation", bucket.get_location
        if "acl" in q:
            return "GetBucketAcl", bucket.get_acl
        if "versioning" in q:
            return "GetBucketVersioning", bucket.get_versioning
        if "uploads" in q:
            return "ListMultipartUploads", multipart.list_uploads
        if "versions" in q:
            return "ListObjectVersions", listing.list_object_versions
        for name in config.UNCONFIGURED:
            if name in q:
                return f"GetBucket:{name}", config.get_unconfigured
        if q.get("list-type") == "2":
            return "ListObjectsV2", listing.list_objects_v2
        return "ListObjects", listing.list_objects_v1
    if m == "PUT":
        if "acl" in q:
            return "PutBucketAcl", bucket.put_acl
        if "versioning" in q:
            return "PutBucketVersioning", bucket.put_versioning
        if any(name in q for name in config.UNCONFIGURED):
            return "PutBucketConfig", config.not_implemented
        return "CreateBucket", bucket.create_bucket
    if m == "HEAD":
        return "HeadBucket", bucket.head_bucket
    if m == "DELETE":
        if any(name in q for name in config.UNCONFIGURED):
            return "DeleteBucketConfig", config.delete_unconfigured
        return "DeleteBucket", bucket.delete_bucket
    if m == "POST" and "delete" in q:
        return "DeleteObjects", objects.delete_objects
    raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.")


async def route(
    ctx: Context, req: Request, parsed: ParsedAuth | None, signing: SigningContext | None
) -> Response:
    req.operation, handler = _pick(req)
    return await handler(ctx, req, signing)
