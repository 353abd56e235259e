"""Object reads, deletes, copies and ACLs."""

from __future__ import annotations

import base64
import hashlib

from alexanderd.front.blobio import BlobReader
from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers.common import (
    bucket_info,
    bucket_name,
    object_headers,
    object_key,
    quoted,
)
from alexanderd.front.handlers.upload import request_body
from alexanderd.front.request import Request
from alexanderd.front.response import Response, empty, xml_response
from alexanderd.front.s3types import (
    evaluate_copy_source_conditions,
    evaluate_read_conditions,
    extract_stored_headers,
    extract_user_metadata,
    parse_copy_source,
    parse_range,
    parse_write_conditions,
    response_overrides,
)
from alexanderd.front.sigv4 import SigningContext
from alexanderd.front.xml import acl_xml, copy_result_xml, delete_result_xml, parse_delete
from protocol.meta import (
    CommitObject,
    DeleteObject,
    DeleteObjects,
    GetObjectInfo,
    ObjectDeleted,
    ObjectInfo,
    ObjectsDeleted,
)

MAX_DELETE_BODY = 2 * 1024 * 1024


async def _info(
    ctx: Context, req: Request, bucket: str, key: str, version: str | None
) -> ObjectInfo:
    return await ctx.meta.request(
        GetObjectInfo(
            rid=req.rid, principal=req.principal, bucket=bucket, key=key, version_id=version
        ),
        ObjectInfo,
    )


async def source_object(ctx: Context, req: Request) -> tuple[ObjectInfo, str | None]:
    """The object named by x-amz-copy-source (read access checked by meta) and its version."""
    src_bucket, src_key, version = parse_copy_source(req.headers["x-amz-copy-source"])
    source = await _info(ctx, req, src_bucket, src_key, version)
    if source.corrupt:
        raise s3_error("InternalError", "The source object's data failed its integrity check.")
    return source, source.version_id if version else None


async def _read(ctx: Context, req: Request) -> Response:
    info = await _info(ctx, req, bucket_name(req), object_key(req), req.query.get("versionId"))
    if info.corrupt:
        raise s3_error("InternalError", "The object's stored data failed its integrity check.")
    if evaluate_read_conditions(req.headers, info.etag, info.last_modified) == "not_modified":
        return Response(status=304, headers=[("ETag", quoted(info.etag))])
    overrides = response_overrides(req.query)
    if overrides and req.principal is None:
        raise s3_error(
            "InvalidRequest",
            "Request specific response headers cannot be used for anonymous GET requests.",
        )
    part = req.query.get("partNumber")
    span = parse_range(req.headers.get("range"), info.size)
    if part is not None:
        span = _part_span(info, part, span)
    full = span is None
    start, end = span if span is not None else (0, info.size - 1)
    headers = object_headers(info, checksums=full and _checksum_mode(req))
    headers = [(n, v) for n, v in headers if n.lower() not in overrides]
    headers += list(overrides.items())
    length = end - start + 1 if info.size else 0
    resp = Response(status=200 if full else 206, headers=headers, length=length)
    if not full:
        resp.headers.append(("Content-Range", f"bytes {start}-{end}/{info.size}"))
    if req.is_head or length == 0:
        return resp
    reader = BlobReader(ctx, req.rid, info.blobs, start, end)
    await reader.open()
    if reader.whole is not None:
        resp.body = reader.whole  # read in one piece: no stream to drive
        return resp
    resp.stream = reader.stream()
    resp.closer = reader.close
    return resp


def _checksum_mode(req: Request) -> bool:
    return req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"


def _part_span(info: ObjectInfo, part: str, span: tuple[int, int] | None) -> tuple[int, int]:
    if span is not None:
        raise s3_error(
            "InvalidRequest", "Cannot specify both Range header and partNumber query parameter."
        )
    if not part.isdigit() or not 1 <= int(part) <= 10000:
        raise s3_error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=part[:32],
        )
    number = int(part)
    if number > max(1, len(info.blobs)):
        raise s3_error("InvalidPartNumber", "The requested partnumber is not satisfiable")
    offset = sum(ref.size for ref in info.blobs[: number - 1])
    size = info.blobs[number - 1].size if info.blobs else 0
    return offset, offset + size - 1


async def get_object(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    return await _read(ctx, req)


async def head_object(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    return await _read(ctx, req)


async def delete_object(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    result = await ctx.meta.request(
        DeleteObject(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            version_id=req.query.get("versionId"),
        ),
        ObjectDeleted,
    )
    resp = empty(204)
    if result.delete_marker:
        resp.headers.append(("x-amz-delete-marker", "true"))
    if result.version_id:
        resp.headers.append(("x-amz-version-id", result.version_id))
    return resp


async def delete_objects(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    body = await request_body(req, _, MAX_DELETE_BODY)
    md5 = req.headers.get("content-md5")
    has_checksum = any(h.startswith("x-amz-checksum-") for h in req.headers) or (
        "x-amz-sdk-checksum-algorithm" in req.headers
    )
    if md5 is None and not has_checksum:
        raise s3_error("InvalidRequest", "Missing required header for this request: Content-MD5")
    if md5 is not None and base64.b64encode(hashlib.md5(body).digest()).decode() != md5.strip():
        raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    parsed = parse_delete(body)
    result = await ctx.meta.request(
        DeleteObjects(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            keys=[key for key, _version in parsed.objects],
            version_ids=[version for _key, version in parsed.objects]
            if any(version for _key, version in parsed.objects)
            else [],
        ),
        ObjectsDeleted,
    )
    return xml_response(delete_result_xml(result, quiet=parsed.quiet))


async def copy_object(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    src_bucket, src_key, _version = parse_copy_source(req.headers["x-amz-copy-source"])
    directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise s3_error(
            "InvalidArgument",
            "Unknown metadata directive.",
            ArgumentName="x-amz-metadata-directive",
            ArgumentValue=directive[:32],
        )
    source, source_version = await source_object(ctx, req)
    evaluate_copy_source_conditions(req.headers, source.etag, source.last_modified)
    same = (src_bucket, src_key) == (req.bucket, req.key)
    if same and directive == "COPY" and "x-amz-storage-class" not in req.headers:
        raise s3_error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to "
            "copy an object to itself without changing the object's metadata, storage "
            "class, website redirect location or encryption attributes.",
        )
    if directive == "REPLACE":
        headers, user_meta = extract_stored_headers(req.headers), extract_user_metadata(req.headers)
    else:
        headers, user_meta = source.headers, source.user_meta
    if_none_match, if_match = parse_write_conditions(req.headers)
    # The copy shares the source's blobs: a reference, never a byte copy.
    info = await ctx.meta.request(
        CommitObject(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            size=source.size,
            etag=source.etag,
            blobs=source.blobs,
            headers=headers,
            user_meta=user_meta,
            checksums=source.checksums,
            storage_class=req.headers.get("x-amz-storage-class", source.storage_class),
            if_none_match=if_none_match,
            if_match=if_match,
        ),
        ObjectInfo,
    )
    resp = xml_response(copy_result_xml(info.etag, info.last_modified))
    if info.version_id:
        resp.headers.append(("x-amz-version-id", info.version_id))
    if source_version:
        resp.headers.append(("x-amz-copy-source-version-id", source_version))
    return resp


async def get_object_acl(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    info = await _info(ctx, req, bucket_name(req), object_key(req), req.query.get("versionId"))
    bucket = await bucket_info(ctx, req)
    return xml_response(
        acl_xml(info.owner_id or bucket.owner_id, info.owner_name or bucket.owner_name, "private")
    )


async def put_object_acl(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    await _info(ctx, req, bucket_name(req), object_key(req), req.query.get("versionId"))
    acl = req.headers.get("x-amz-acl", "").strip() or "private"
    if acl != "private":
        raise s3_error(
            "NotImplemented",
            "Object ACLs other than private are not supported; grant access with the bucket ACL.",
        )
    return empty(200)


async def get_object_tagging(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    await _info(ctx, req, bucket_name(req), object_key(req), req.query.get("versionId"))
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns="http://s3.amazonaws.com/'
        b'doc/2006-03-01/"><TagSet></TagSet></Tagging>'
    )
    return xml_response(body)
