"""Decisions every engine takes the same way around its queries: request checks, the errors
of missing buckets, keys and uploads, the per-key verdicts of DeleteObjects, bucket creation
and versioning rules, and how a refused write still commits its bookkeeping."""

from __future__ import annotations

from email.utils import formatdate

from protocol.errors import RemoteError
from protocol.meta import (
    BucketInfo,
    CommitObject,
    CompleteMultipartUpload,
    DeleteFailure,
    ListParts,
    ObjectInfo,
)
from workers.meta import ids, rules, upload_rules
from workers.meta.records import Upload, decode_info, decode_part_list
from workers.meta.rules import error
from workers.meta.store import MAX_DELETE_KEYS


class Refused:
    """Returned (not raised) by a write op whose caller must get `error` while the op's
    writes still commit, e.g. a refused PUT that registers its uploaded blobs as orphans."""

    __slots__ = ("error",)

    def __init__(self, error: RemoteError) -> None:
        self.error = error


def no_such_key(key: str) -> RemoteError:
    return error("NoSuchKey", f"The specified key does not exist: {key}")


def no_such_bucket(bucket: str) -> RemoteError:
    return error("NoSuchBucket", f"The specified bucket does not exist: {bucket}")


def no_such_upload(upload_id: str) -> RemoteError:
    return error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may"
        f" have been aborted or completed. ({upload_id})",
    )


def no_such_version() -> RemoteError:
    return error("NoSuchVersion", "The specified version does not exist.")


def check_commit_request(req: CommitObject) -> None:
    rules.check_key(req.key)
    for ref in req.blobs:
        if ref.size < 0:
            raise error("InvalidArgument", f"blob {ref.sha256} has a negative size")
    total = sum(ref.size for ref in req.blobs)
    if total != req.size:
        raise error(
            "InvalidArgument",
            f"object size {req.size} differs from the sum of its blob sizes ({total})",
        )
    if not req.etag:
        raise error("InvalidArgument", "a committed object needs an ETag")


def marker_details(version_id: str, last_modified: float, with_date: bool) -> dict[str, str]:
    """The response headers of a request that hit a delete marker."""
    details = {"header:x-amz-delete-marker": "true", "header:x-amz-version-id": version_id}
    if with_date:
        details["header:Last-Modified"] = formatdate(last_modified, usegmt=True)
    return details


def deleted_latest(key: str, version_id: str) -> RemoteError:
    """GET/HEAD without a version whose latest version is a delete marker."""
    return RemoteError(
        f"The specified key does not exist: {key}",
        marker_details(version_id, 0.0, with_date=False),
        code="NoSuchKey",
    )


def marker_not_allowed(version_id: str, last_modified: float) -> RemoteError:
    """GET/HEAD naming a delete marker's version."""
    return RemoteError(
        "The specified method is not allowed against this resource.",
        marker_details(version_id, last_modified, with_date=True),
        code="MethodNotAllowed",
    )


def check_delete_request(keys: list[str], version_ids: list[str | None]) -> None:
    if not keys:
        raise error("MalformedXML", "A Delete request must name at least one key.")
    if len(keys) > MAX_DELETE_KEYS:
        raise error("MalformedXML", f"A Delete request may name at most {MAX_DELETE_KEYS} keys.")
    if version_ids and len(version_ids) != len(keys):
        raise error(
            "InvalidArgument",
            f"version_ids names {len(version_ids)} versions for {len(keys)} keys",
        )


def delete_refusal(
    bucket: BucketInfo, principal: str | None, key: str, version_id: str | None
) -> DeleteFailure | None:
    """Why one key of a DeleteObjects request is not deleted, or None to go ahead."""
    need: rules.Access = "write" if version_id is None else "owner"
    named = version_id or ""
    if not rules.allowed(bucket.owner_id, bucket.acl, principal, need):
        return DeleteFailure(
            key=key, code="AccessDenied", message="Access Denied", version_id=named
        )
    if version_id is not None and not ids.is_version_id(version_id):
        # DeleteObjects reports a malformed id per key, unlike DeleteObject's 400.
        return DeleteFailure(
            key=key,
            code="NoSuchVersion",
            message="The specified version does not exist.",
            version_id=named,
        )
    return None


def check_create_bucket(principal: str | None, bucket: str, acl: str) -> str:
    """The checks before creating a bucket; returns the principal (never anonymous)."""
    if principal is None:
        raise error("AccessDenied", "Anonymous users cannot create buckets.")
    rules.check_bucket_name(bucket)
    rules.check_acl(acl)
    return principal


def check_recreate_bucket(existing: BucketInfo, principal: str, region: str) -> None:
    """Creating a bucket that exists: an error, except the us-east-1 legacy case where the
    owner's re-creation succeeds (and resets the ACL)."""
    if existing.owner_id != principal:
        raise error(
            "BucketAlreadyExists",
            "The requested bucket name is not available. The bucket namespace is shared"
            " by all users of the system. Please select a different name and try again.",
        )
    if region != "us-east-1":
        raise error(
            "BucketAlreadyOwnedByYou",
            "The bucket you tried to create already exists, and you own it.",
        )


def check_list_buckets(principal: str | None) -> str:
    if principal is None:
        raise error("AccessDenied", "Anonymous users cannot list buckets.")
    return principal


def unknown_principal() -> RemoteError:
    return error("AccessDenied", "The requesting principal is not a known user.")


VERSIONING_STATES = ("Enabled", "Suspended")


def check_versioning_status(status: str) -> None:
    """Only "Enabled" and "Suspended" exist: a bucket never goes back to unversioned, and
    anything else is MalformedXML as on AWS."""
    if status not in VERSIONING_STATES:
        raise error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our"
            f" published schema (versioning status {status!r}: expected Enabled or Suspended)",
        )


def bucket_not_empty() -> RemoteError:
    return error("BucketNotEmpty", "The bucket you tried to delete is not empty.")


def check_list_parts(req: ListParts) -> None:
    upload_rules.check_list_limit("max-parts", req.max_parts, upload_rules.MAX_LIST_PARTS)
    if req.part_number_marker < 0:
        raise error("InvalidArgument", "part-number-marker must be a non-negative integer.")


def completion_parts(req: CompleteMultipartUpload) -> list[tuple[int, str]]:
    """The part list of a completion as recorded, to recognise a retried completion."""
    return [(part.part_number, upload_rules.normal_etag(part.etag)) for part in req.parts]


def repeated_completion(upload: Upload, req: CompleteMultipartUpload) -> ObjectInfo:
    """A completion of an upload already completed: the same answer for the same part list
    (a retry), NoSuchUpload for any other."""
    if (
        upload.result is not None
        and upload.completed_parts is not None
        and decode_part_list(upload.completed_parts) == completion_parts(req)
    ):
        return decode_info(upload.result)
    raise no_such_upload(req.upload_id)


def check_versions_query(key_marker: str, version_id_marker: str) -> None:
    if version_id_marker:
        if not key_marker:
            raise error(
                "InvalidArgument", "A version-id marker cannot be specified without a key marker."
            )
        ids.check_version_id(version_id_marker)
