"""Bucket configurations this server does not store yet (CORS, policy, lifecycle, ...).

Reading one answers what S3 answers for a bucket where it was never set, which is the
truth here; setting one is NotImplemented, so no client believes a rule is in force.
"""

from __future__ import annotations

from alexanderd.front.context import Context
from alexanderd.front.errors import s3_error
from alexanderd.front.handlers.common import bucket_info
from alexanderd.front.request import Request
from alexanderd.front.response import Response, empty, xml_response
from alexanderd.front.sigv4 import SigningContext

_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

# sub-resource -> (error code when never set) or (document S3 returns when never set)
UNCONFIGURED: dict[str, tuple[str, str]] = {
    "cors": ("NoSuchCORSConfiguration", ""),
    "policy": ("NoSuchBucketPolicy", ""),
    "lifecycle": ("NoSuchLifecycleConfiguration", ""),
    "tagging": ("NoSuchTagSet", ""),
    "encryption": ("ServerSideEncryptionConfigurationNotFoundError", ""),
    "website": ("NoSuchWebsiteConfiguration", ""),
    "replication": ("ReplicationConfigurationNotFoundError", ""),
    "object-lock": ("ObjectLockConfigurationNotFoundError", ""),
    "ownershipControls": ("OwnershipControlsNotFoundError", ""),
    "publicAccessBlock": ("NoSuchPublicAccessBlockConfiguration", ""),
    "logging": ("", f"<BucketLoggingStatus {_NS}/>"),
    "accelerate": ("", f"<AccelerateConfiguration {_NS}/>"),
    "requestPayment": (
        "",
        f"<RequestPaymentConfiguration {_NS}><Payer>BucketOwner</Payer>"
        "</RequestPaymentConfiguration>",
    ),
    "notification": ("", f"<NotificationConfiguration {_NS}/>"),
}


def _subresource(req: Request) -> str:
    return next(name for name in UNCONFIGURED if name in req.query)


async def get_unconfigured(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    await bucket_info(ctx, req, owner_only=True)
    code, document = UNCONFIGURED[_subresource(req)]
    if code:
        raise s3_error(code, BucketName=req.bucket or "")
    return xml_response((_DECL + document).encode())


async def delete_unconfigured(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    # Deleting a configuration that is not there succeeds on S3 too.
    await bucket_info(ctx, req, owner_only=True)
    return empty(204)


async def not_implemented(ctx: Context, req: Request, _: SigningContext | None) -> Response:
    if req.bucket is not None:
        await bucket_info(ctx, req, owner_only=req.key is None)
    raise s3_error("NotImplemented", f"{req.operation} is not supported by this server yet.")
