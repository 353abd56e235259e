"""PutObject: authenticate the payload, stream it to a blob worker, commit it in meta."""

from __future__ import annotations

import hashlib

from alexanderd.front.auth import auth_failure
from alexanderd.front.authtypes import UNSIGNED_PAYLOAD, classify_payload_hash, payload_mode
from alexanderd.front.blobio import SMALL_BODY, store_body
from alexanderd.front.body import Body
from alexanderd.front.chunked import announced_trailers, decoded_content_length
from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers.common import bucket_info, bucket_name, object_key, quoted
from alexanderd.front.request import Request
from alexanderd.front.response import Response
from alexanderd.front.s3types import (
    extract_stored_headers,
    extract_user_metadata,
    parse_write_conditions,
)
from alexanderd.front.sigv4 import AuthError, SigningContext
from protocol.blob import CHECKSUM_ALGORITHMS, BlobStored, PutBlob
from protocol.meta import BlobRef, CommitObject, ObjectInfo

MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PutObject; larger objects go multipart
# Computed for every object, as S3 does since its default integrity protections: lets GET
# with x-amz-checksum-mode return a full-object checksum even when the client sent none.
DEFAULT_CHECKSUM = "crc64nvme"


def _body_framing(req: Request) -> tuple[str, int | None, list[str]]:
    """(payload mode, decoded size, announced trailers) for the request's body."""
    try:
        if req.payload_hash is not None:
            mode = classify_payload_hash(req.payload_hash)
        else:
            mode = payload_mode(req.headers, required=False)
        trailers: list[str] = []
        if mode.startswith("STREAMING-"):
            size: int | None = decoded_content_length(req.headers)
            trailers = list(announced_trailers(req.headers))
        else:
            length = req.headers.get("content-length")
            if length is None:
                if req.headers.get("transfer-encoding"):
                    size = None
                else:
                    raise s3_error(
                        "MissingContentLength", "You must provide the Content-Length HTTP header."
                    )
            elif not length.isdigit():
                raise s3_error("InvalidArgument", "Content-Length is not a number.")
            else:
                size = int(length)
    except AuthError as exc:
        raise auth_failure(exc) from None
    return mode, size, trailers


def _open_body(
    req: Request, sig: SigningContext | None, max_size: int | None = None
) -> tuple[Body, str, int | None, list[str]]:
    """The request's body behind the one verifier, with its mode, declared size and trailers;
    a declared size above `max_size` is refused before anything is read."""
    mode, size, trailers = _body_framing(req)
    if max_size is not None and size is not None and size > max_size:
        raise s3_error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            ProposedSize=size,
            MaxSizeAllowed=max_size,
        )
    decoded = size if mode.startswith("STREAMING-") else None
    return Body(req, mode, sig, decoded, trailers), mode, size, trailers


async def request_body(req: Request, ctx_sig: SigningContext | None, limit: int) -> bytes:
    """A small body (XML) read whole, through the same verifier as object bodies."""
    body, mode, _size, _trailers = _open_body(req, ctx_sig)
    data = await body.read_all(limit)
    if len(mode) == 64 and mode != UNSIGNED_PAYLOAD and hashlib.sha256(data).hexdigest() != mode:
        raise s3_error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return data


def _checksum_request(req: Request, trailers: list[str]) -> tuple[list[str], dict[str, str]]:
    """Algorithms to compute and the values the headers declare (base64)."""
    algos: list[str] = []
    expected: dict[str, str] = {}
    sdk = req.headers.get("x-amz-sdk-checksum-algorithm")
    if sdk is not None:
        name = sdk.strip().lower()
        if name not in CHECKSUM_ALGORITHMS:
            raise s3_error("InvalidRequest", f"Checksum algorithm {sdk[:32]} is not supported.")
        algos.append(name)
    for algo in CHECKSUM_ALGORITHMS:
        value = req.headers.get(f"x-amz-checksum-{algo}")
        if value is not None:
            expected[algo] = value.strip()
            if algo not in algos:
                algos.append(algo)
    for trailer in trailers:
        algo = trailer.removeprefix("x-amz-checksum-")
        if algo not in algos:
            algos.append(algo)
    if len(algos) > 1:
        raise s3_error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    if not algos:
        algos.append(DEFAULT_CHECKSUM)
    return algos, expected


async def receive_blob(
    ctx: Context, req: Request, sig: SigningContext | None, max_size: int
) -> BlobStored:
    """Stream the request body to a blob worker, verified (signatures, digests, checksums)
    and durable before this returns; nothing is committed in meta yet."""
    body, mode, size, trailers = _open_body(req, sig, max_size)
    algos, expected = _checksum_request(req, trailers)
    header = PutBlob(
        rid=req.rid,
        expected_size=size,
        content_md5=req.headers.get("content-md5"),
        content_sha256=mode if len(mode) == 64 else None,
        checksum_algorithms=algos,
        expected_checksums=expected,
    )
    return await store_body(ctx, header, body.chunks(), body.trailers)


def checksum_headers(checksums: dict[str, str]) -> list[tuple[str, str]]:
    headers = [(f"x-amz-checksum-{algo}", value) for algo, value in checksums.items()]
    if checksums:
        kind = "COMPOSITE" if any("-" in v for v in checksums.values()) else "FULL_OBJECT"
        headers.append(("x-amz-checksum-type", kind))
    return headers


STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "GLACIER_IR",
    }
)


def storage_class_of(req: Request) -> str:
    storage_class = req.headers.get("x-amz-storage-class", "STANDARD")
    if storage_class not in STORAGE_CLASSES:
        raise s3_error("InvalidStorageClass", "The storage class you specified is not valid")
    return storage_class


async def put_object(ctx: Context, req: Request, sig: SigningContext | None) -> Response:
    bucket, key = bucket_name(req), object_key(req)
    if_none_match, if_match = parse_write_conditions(req.headers)
    headers = extract_stored_headers(req.headers)
    user_meta = extract_user_metadata(req.headers)
    if "x-amz-tagging" in req.headers:
        raise s3_error("NotImplemented", "Object tagging is not supported by this server yet.")
    storage_class = storage_class_of(req)
    declared = req.headers.get("x-amz-decoded-content-length") or req.headers.get(
        "content-length", ""
    )
    if not declared.isdigit() or int(declared) > SMALL_BODY:
        # Refuse before reading a large body when the bucket is missing or not writable: the
        # client (often waiting on Expect: 100-continue) gets its answer without sending the
        # bytes. Small bodies skip the round trip: the commit checks the same atomically.
        await bucket_info(ctx, req, write=True)
    stored = await receive_blob(ctx, req, sig, min(MAX_SINGLE_PUT, ctx.boot.max_object_size))
    info = await ctx.meta.request(
        CommitObject(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket,
            key=key,
            size=stored.size,
            etag=stored.md5,
            blobs=[BlobRef(sha256=stored.sha256, size=stored.size, md5=stored.md5)],
            headers=headers,
            user_meta=user_meta,
            checksums=stored.checksums,
            storage_class=storage_class,
            if_none_match=if_none_match,
            if_match=if_match,
        ),
        ObjectInfo,
    )
    resp = Response(headers=[("ETag", quoted(info.etag)), *checksum_headers(stored.checksums)])
    if info.version_id:
        resp.headers.append(("x-amz-version-id", info.version_id))
    return resp
