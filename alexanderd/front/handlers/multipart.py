"""Multipart uploads: create, upload (or copy) parts, list, complete, abort.

Each part is its own blob; completing records the object as the list of its parts' blobs,
so no byte is copied. UploadPartCopy of a whole single-blob source shares that blob too.
"""

from __future__ import annotations

from alexanderd.front.blobio import BlobReader, store_body
from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers.common import bucket_info, bucket_name, object_key, quoted
from alexanderd.front.handlers.objects import source_object
from alexanderd.front.handlers.upload import (
    checksum_headers,
    receive_blob,
    request_body,
    storage_class_of,
)
from alexanderd.front.request import Request
from alexanderd.front.response import Response, empty, xml_response
from alexanderd.front.s3types import (
    evaluate_copy_source_conditions,
    extract_stored_headers,
    extract_user_metadata,
    parse_encoding_type,
    parse_write_conditions,
)
from alexanderd.front.sigv4 import SigningContext
from alexanderd.front.xml import copy_result_xml
from alexanderd.front.xml_uploads import (
    complete_xml,
    initiate_xml,
    list_parts_xml,
    list_uploads_xml,
    parse_complete,
)
from protocol.base import Done
from protocol.blob import CHECKSUM_ALGORITHMS, PutBlob
from protocol.meta import (
    AbortMultipartUpload,
    BlobRef,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    ListMultipartUploads,
    ListParts,
    ObjectInfo,
    PartList,
    PartRegistered,
    RegisterPart,
    UploadCreated,
    UploadList,
)

MAX_PART_SIZE = 5 * 1024**3
MAX_COMPLETE_BODY = 4 * 1024 * 1024


def _upload_id(req: Request) -> str:
    upload_id = req.query.get("uploadId", "")
    if not upload_id:
        raise s3_error("NoSuchUpload", "The specified upload does not exist.")
    return upload_id


def _part_number(req: Request) -> int:
    raw = req.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise s3_error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw[:32],
        )
    return int(raw)


def _int_param(req: Request, name: str, default: int, cap: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise s3_error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=raw[:32],
        )
    return min(int(raw), cap)


async def create_upload(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    algorithm = req.headers.get("x-amz-checksum-algorithm")
    if algorithm is not None and algorithm.lower() not in CHECKSUM_ALGORITHMS:
        raise s3_error("InvalidRequest", f"Checksum algorithm {algorithm[:32]} is not supported.")
    if "x-amz-tagging" in req.headers:
        raise s3_error("NotImplemented", "Object tagging is not supported by this server yet.")
    created = await ctx.meta.request(
        CreateMultipartUpload(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            headers=extract_stored_headers(req.headers),
            user_meta=extract_user_metadata(req.headers),
            storage_class=storage_class_of(req),
            checksum_algorithm=algorithm.lower() if algorithm else None,
            checksum_type=req.headers.get("x-amz-checksum-type"),
        ),
        UploadCreated,
    )
    resp = xml_response(initiate_xml(bucket_name(req), object_key(req), created.upload_id))
    if algorithm:
        resp.headers.append(("x-amz-checksum-algorithm", algorithm.upper()))
    return resp


async def _register(
    ctx: Context, req: Request, blob: BlobRef, checksums: dict[str, str]
) -> PartRegistered:
    return await ctx.meta.request(
        RegisterPart(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            upload_id=_upload_id(req),
            part_number=_part_number(req),
            blob=blob,
            checksums=checksums,
        ),
        PartRegistered,
    )


async def upload_part(ctx: Context, req: Request, sig: SigningContext | None) -> Response:
    _part_number(req)
    _upload_id(req)
    await bucket_info(ctx, req, write=True)
    stored = await receive_blob(ctx, req, sig, MAX_PART_SIZE)
    ref = BlobRef(sha256=stored.sha256, size=stored.size, md5=stored.md5)
    registered = await _register(ctx, req, ref, stored.checksums)
    return Response(
        headers=[("ETag", quoted(registered.etag)), *checksum_headers(stored.checksums)]
    )


def _copy_range(value: str | None, size: int) -> tuple[int, int]:
    if value is None:
        return 0, size - 1
    spec = value.strip()
    first, _, last = spec.removeprefix("bytes=").partition("-")
    if not spec.startswith("bytes=") or not first.isdigit() or not last.isdigit():
        raise s3_error(
            "InvalidArgument",
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value[:64],
        )
    start, end = int(first), int(last)
    if start > end or end >= size:
        raise s3_error(
            "InvalidRange",
            "The requested range is not satisfiable",
            RangeRequested=value[:64],
            ActualObjectSize=size,
        )
    return start, end


async def upload_part_copy(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    _part_number(req)
    _upload_id(req)
    source, version = await source_object(ctx, req)
    evaluate_copy_source_conditions(req.headers, source.etag, source.last_modified)
    start, end = _copy_range(req.headers.get("x-amz-copy-source-range"), source.size)
    length = end - start + 1 if source.size else 0
    if length > MAX_PART_SIZE:
        raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    whole = next(
        (
            ref
            for offset, ref in _offsets(source.blobs)
            if offset == start and ref.size == length and ref.md5
        ),
        None,
    )
    checksums: dict[str, str] = {}
    if whole is not None:
        ref = whole  # a whole blob of the source: share it, copy nothing
    else:
        reader = BlobReader(ctx, req.rid, source.blobs, start, end)
        await reader.open()
        try:
            stored = await store_body(
                ctx,
                PutBlob(rid=req.rid, expected_size=length, checksum_algorithms=["crc64nvme"]),
                reader.stream(),
                {},
            )
        finally:
            await reader.close()
        ref = BlobRef(sha256=stored.sha256, size=stored.size, md5=stored.md5)
        checksums = stored.checksums
    registered = await _register(ctx, req, ref, checksums)
    resp = xml_response(copy_result_xml(registered.etag, source.last_modified, part=True))
    if version:
        resp.headers.append(("x-amz-copy-source-version-id", version))
    return resp


def _offsets(blobs: list[BlobRef]) -> list[tuple[int, BlobRef]]:
    out, offset = [], 0
    for ref in blobs:
        out.append((offset, ref))
        offset += ref.size
    return out


async def complete_upload(ctx: Context, req: Request, sig: SigningContext | None) -> Response:
    if_none_match, if_match = parse_write_conditions(req.headers)
    parts = parse_complete(await request_body(req, sig, MAX_COMPLETE_BODY))
    info = await ctx.meta.request(
        CompleteMultipartUpload(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            upload_id=_upload_id(req),
            parts=parts,
            if_none_match=if_none_match,
            if_match=if_match,
        ),
        ObjectInfo,
    )
    host = req.headers.get("host", "")
    location = f"{req.scheme}://{host}/{bucket_name(req)}/{object_key(req)}"
    resp = xml_response(
        complete_xml(location, info.bucket, info.key, info.etag, dict(info.checksums))
    )
    if info.version_id:
        resp.headers.append(("x-amz-version-id", info.version_id))
    return resp


async def abort_upload(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    await ctx.meta.request(
        AbortMultipartUpload(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            upload_id=_upload_id(req),
        ),
        Done,
    )
    return empty(204)


async def list_parts(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    marker = _int_param(req, "part-number-marker", 0, 10000)
    max_parts = _int_param(req, "max-parts", 1000, 1000)
    result = await ctx.meta.request(
        ListParts(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            key=object_key(req),
            upload_id=_upload_id(req),
            part_number_marker=marker,
            max_parts=max_parts,
        ),
        PartList,
    )
    return xml_response(
        list_parts_xml(
            bucket_name(req),
            object_key(req),
            _upload_id(req),
            result,
            marker=marker,
            max_parts=max_parts,
        )
    )


async def list_uploads(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    q = req.query
    max_uploads = _int_param(req, "max-uploads", 1000, 1000)
    encode = parse_encoding_type(q.get("encoding-type"))
    result = await ctx.meta.request(
        ListMultipartUploads(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            key_marker=q.get("key-marker", ""),
            upload_id_marker=q.get("upload-id-marker", ""),
            max_uploads=max_uploads,
        ),
        UploadList,
    )
    return xml_response(
        list_uploads_xml(
            bucket_name(req),
            result,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            key_marker=q.get("key-marker", ""),
            upload_id_marker=q.get("upload-id-marker", ""),
            max_uploads=max_uploads,
            encoding_url=encode,
        )
    )
