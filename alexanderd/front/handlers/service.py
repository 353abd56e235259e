"""ListBuckets: the one operation on the service itself."""

from __future__ import annotations

from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.request import Request
from alexanderd.front.response import Response, xml_response
from alexanderd.front.sigv4 import SigningContext
from alexanderd.front.xml import list_buckets_xml
from protocol.meta import BucketList, ListBuckets


async def list_buckets(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    if req.principal is None:
        raise s3_error("AccessDenied", "Access Denied")
    result = await ctx.meta.request(ListBuckets(rid=req.rid, principal=req.principal), BucketList)
    prefix = req.query.get("prefix")
    if prefix:
        result.buckets = [b for b in result.buckets if b.name.startswith(prefix)]
    return xml_response(list_buckets_xml(result, prefix=prefix))
