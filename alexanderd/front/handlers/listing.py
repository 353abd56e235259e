"""ListObjects (V1 and V2): parameters parsed here, the index walk done by the meta process."""

from __future__ import annotations

from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers.common import bucket_name
from alexanderd.front.request import Request
from alexanderd.front.response import Response, xml_response
from alexanderd.front.s3types import decode_token, parse_encoding_type, parse_max_keys
from alexanderd.front.sigv4 import SigningContext
from alexanderd.front.xml import list_objects_v1_xml, list_objects_v2_xml
from alexanderd.front.xml_uploads import list_versions_xml
from protocol.meta import ListObjects, ListObjectVersions, ObjectList, VersionList


async def _list(ctx: Context, req: Request, after: str, max_keys: int) -> ObjectList:
    q = req.query
    return await ctx.meta.request(
        ListObjects(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            after=after,
            max_keys=max_keys,
        ),
        ObjectList,
    )


async def list_objects_v1(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    q = req.query
    max_keys = parse_max_keys(q.get("max-keys"))
    encode = parse_encoding_type(q.get("encoding-type"))
    marker = q.get("marker", "")
    result = await _list(ctx, req, marker, max_keys)
    return xml_response(
        list_objects_v1_xml(
            bucket_name(req),
            result,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            marker=marker,
            max_keys=max_keys,
            encoding_url=encode,
            owner=True,
        )
    )


async def list_objects_v2(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    q = req.query
    max_keys = parse_max_keys(q.get("max-keys"))
    encode = parse_encoding_type(q.get("encoding-type"))
    token = q.get("continuation-token")
    if token is not None and not token:
        raise s3_error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue="",
        )
    start_after = q.get("start-after")
    after = decode_token(token) if token else (start_after or "")
    result = await _list(ctx, req, after, max_keys)
    fetch_owner = q.get("fetch-owner", "false").lower() == "true"
    return xml_response(
        list_objects_v2_xml(
            bucket_name(req),
            result,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            max_keys=max_keys,
            continuation_token=token,
            start_after=start_after,
            encoding_url=encode,
            fetch_owner=fetch_owner,
        )
    )


async def list_object_versions(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    q = req.query
    max_keys = parse_max_keys(q.get("max-keys"))
    encode = parse_encoding_type(q.get("encoding-type"))
    key_marker = q.get("key-marker", "")
    version_id_marker = q.get("version-id-marker", "")
    if version_id_marker and not key_marker:
        raise s3_error(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_id_marker[:64],
        )
    result = await ctx.meta.request(
        ListObjectVersions(
            rid=req.rid,
            principal=req.principal,
            bucket=bucket_name(req),
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            key_marker=key_marker,
            version_id_marker=version_id_marker,
            max_keys=max_keys,
        ),
        VersionList,
    )
    return xml_response(
        list_versions_xml(
            bucket_name(req),
            result,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            key_marker=key_marker,
            version_id_marker=version_id_marker,
            max_keys=max_keys,
            encoding_url=encode,
        )
    )
