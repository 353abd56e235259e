"""Bucket lifecycle and the bucket settings this server keeps: location, ACL, versioning."""

from __future__ import annotations

from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers.common import bucket_info, bucket_name
from alexanderd.front.handlers.upload import request_body
from alexanderd.front.request import Request
from alexanderd.front.response import Response, empty, xml_response
from alexanderd.front.s3types import validate_bucket_name
from alexanderd.front.sigv4 import SigningContext
from alexanderd.front.xml import (
    CANNED_ACLS,
    acl_xml,
    location_xml,
    parse_acl,
    parse_create_bucket,
    parse_versioning,
    versioning_xml,
)
from protocol.base import Done
from protocol.meta import BucketInfo, CreateBucket, DeleteBucket, PutBucketAcl, PutBucketVersioning

MAX_CONFIG_BODY = 64 * 1024


def _canned_acl(req: Request) -> str | None:
    acl = req.headers.get("x-amz-acl")
    if acl is None or not acl.strip():
        return None  # s3fs sends an empty x-amz-acl: no ACL asked for, so the default applies
    if acl not in CANNED_ACLS:
        raise s3_error(
            "InvalidArgument",
            f"Unsupported canned ACL {acl[:64]!r}",
            ArgumentName="x-amz-acl",
            ArgumentValue=acl[:64],
        )
    return acl


async def create_bucket(ctx: Context, req: Request, sig: SigningContext | None) -> Response:
    name = bucket_name(req)
    if req.principal is None:
        raise s3_error("AccessDenied", "Access Denied")
    validate_bucket_name(name)
    acl = _canned_acl(req) or "private"
    body = await request_body(req, sig, MAX_CONFIG_BODY)
    location = parse_create_bucket(body) if body.strip() else None
    region = ctx.boot.region
    # A constraint naming this server's own region is accepted even for us-east-1 (where
    # AWS refuses it): s3fs and others send it, and it asks for nothing we would not do.
    if location is not None and location != region:
        raise s3_error(
            "IllegalLocationConstraintException",
            f"The {location[:64]} location constraint is incompatible for the region specific "
            "endpoint this request was sent to.",
        )
    await ctx.meta.request(
        CreateBucket(rid=req.rid, principal=req.principal, bucket=name, region=region, acl=acl),
        BucketInfo,
    )
    return empty(200).header("Location", f"/{name}")


async def delete_bucket(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    await ctx.meta.request(
        DeleteBucket(rid=req.rid, principal=req.principal, bucket=bucket_name(req)), Done
    )
    return empty(204)


async def head_bucket(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    info = await bucket_info(ctx, req)
    return empty(200).header("x-amz-bucket-region", info.region)


async def get_location(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    info = await bucket_info(ctx, req, owner_only=True)
    return xml_response(location_xml(info.region))


async def get_acl(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    info = await bucket_info(ctx, req, owner_only=True)
    return xml_response(acl_xml(info.owner_id, info.owner_name, info.acl))


async def put_acl(ctx: Context, req: Request, sig: SigningContext | None) -> Response:
    info: BucketInfo = await bucket_info(ctx, req, owner_only=True)
    acl = _canned_acl(req)
    body = await request_body(req, sig, MAX_CONFIG_BODY)
    if acl is not None and body.strip():
        raise s3_error("UnexpectedContent", "This request does not support content")
    if acl is None:
        if not body.strip():
            raise s3_error(
                "MissingSecurityHeader",
                "Your request was missing a required header",
                MissingHeaderName="x-amz-acl",
            )
        acl = parse_acl(body, info.owner_id)
    await ctx.meta.request(
        PutBucketAcl(rid=req.rid, principal=req.principal, bucket=info.name, acl=acl), Done
    )
    return empty(200)


async def get_versioning(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    info = await bucket_info(ctx, req, owner_only=True)
    return xml_response(versioning_xml(info.versioning))


async def put_versioning(ctx: Context, req: Request, sig: SigningContext | None) -> Response:
    info = await bucket_info(ctx, req, owner_only=True)
    status = parse_versioning(await request_body(req, sig, MAX_CONFIG_BODY))
    await ctx.meta.request(
        PutBucketVersioning(rid=req.rid, principal=req.principal, bucket=info.name, status=status),
        Done,
    )
    return empty(200)
