"""The contract every metadata engine (SQLite now, PostgreSQL later) implements: `MetaStore`.

Every method is a coroutine that is safe to call concurrently from many tasks. Failures that a
client can cause are raised as `protocol.errors.RemoteError` carrying the exact AWS code in
`error_code` (S3 codes for buckets and objects, IAM-style codes for users and keys); anything
else escaping a method is a bug or an infrastructure failure and becomes InternalError upstream.

Acknowledgement rule shared by all engines: a write method returns only after the transaction
holding its change is durable (committed with the configured synchronous level), and a read that
starts after a write returned sees that write.

Access rule shared by all engines (`principal` None is anonymous): the bucket owner may do
anything; canned ACL `public-read` lets everyone read (GET/HEAD object, list, head bucket),
`public-read-write` also write (put and delete objects), `authenticated-read` lets any
authenticated principal read; everything else is AccessDenied. Bucket-level administration
(delete bucket, put/get ACL) is owner-only. A missing bucket is NoSuchBucket before any access
decision, as on AWS. Deleting a specific object version is owner-only (with ACLs, only the
bucket owner holds s3:DeleteObjectVersion).

Versioning (AWS "Using versioning in S3 buckets"): a bucket starts unversioned (""), and
PutBucketVersioning moves it to "Enabled" or "Suspended", never back. Writes in an Enabled
bucket add a version with a generated id (workers/meta/ids.py); in an unversioned or Suspended
bucket they replace the "null" version and only it. ObjectInfo.version_id is None in a
never-versioned bucket, else the id or "null". Multipart uploads are in store_uploads.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from protocol.meta import (
    AccessKeyInfo,
    BucketInfo,
    BucketList,
    CommitObject,
    KeyList,
    ObjectDeleted,
    ObjectInfo,
    ObjectList,
    ObjectsDeleted,
    Pong,
    UserInfo,
    UserList,
    VersionList,
)
from workers.meta.store_uploads import UploadStore

CANNED_ACLS = ("private", "public-read", "public-read-write", "authenticated-read")
MAX_DELETE_KEYS = 1000
MAX_LIST_KEYS = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class BlobRow:
    """One row of the blob table: a content address and how many object rows reference it."""

    sha256: str
    size: int
    refcount: int
    orphaned_at: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationStatus:
    version: int
    name: str
    applied_at: float | None  # None: known to this build but not applied


@dataclasses.dataclass(slots=True)
class MetaStats:
    """Counters a metrics exporter reads; plain ints so reading them never takes a lock."""

    write_batches: int = 0
    write_ops: int = 0
    largest_batch: int = 0
    gc_runs: int = 0
    gc_failures: int = 0
    gc_deleted: int = 0
    gc_freed_bytes: int = 0
    gc_last_success: float | None = None
    gc_uploads_aborted: int = 0
    gc_leaked_removed: int = 0
    scrub_runs: int = 0
    scrub_corrupt: int = 0
    scrub_last_success: float | None = None


# Called inside the writer's transaction, before COMMIT: removes the files of the blobs whose
# rows were just deleted (GC), and makes the removals durable.
UnlinkBlobs = Callable[[list[str]], None]
# Called inside the writer's transaction: moves one blob's file aside; False if it was gone.
QuarantineBlob = Callable[[str], bool]
# Called inside the writer's transaction with blob files that have no row: removes the ones
# still old enough and returns (sha256, size) of each file removed.
RemoveLeaked = Callable[[list[str]], list[tuple[str, int]]]


class MetaStore(UploadStore, Protocol):
    """The metadata engine. Methods document their S3 semantics and the error codes they raise."""

    @property
    def base_path(self) -> str:
        """The data directory (blobs/, tmp/, quarantine/ live under it)."""
        ...

    @property
    def stats(self) -> MetaStats:
        """Live counters (writer batches, GC and scrub results)."""
        ...

    @property
    def listing_rows_read(self) -> int:
        """Object rows read by listings since open: lets tests prove a delimiter listing skips
        past each common prefix with a new index seek instead of reading the keys under it."""
        ...

    async def aclose(self) -> None:
        """Finish queued writes, stop the writer and close every connection. Idempotent."""
        ...

    async def migration_status(self) -> list[MigrationStatus]:
        """Every migration this build knows, in order, with the time it was applied."""
        ...

    async def ping(self) -> Pong:
        """A trivial read proving the database answers; raises if it does not."""
        ...

    # -- buckets -------------------------------------------------------------------------

    async def create_bucket(
        self, principal: str | None, bucket: str, region: str = "us-east-1", acl: str = "private"
    ) -> BucketInfo:
        """Create a bucket owned by `principal`. Anonymous: AccessDenied. Bad name:
        InvalidBucketName. Unknown canned ACL: InvalidArgument. Owned by someone else:
        BucketAlreadyExists. Already owned by the caller: BucketAlreadyOwnedByYou, except in
        us-east-1 where AWS (legacy) answers 200 and resets the ACL: we do the same."""
        ...

    async def delete_bucket(self, principal: str | None, bucket: str) -> None:
        """Owner-only. NoSuchBucket, AccessDenied, BucketNotEmpty when any object row exists."""
        ...

    async def head_bucket(
        self, principal: str | None, bucket: str, *, write: bool = False
    ) -> BucketInfo:
        """The bucket if the principal may read it (or write it, with `write`): NoSuchBucket,
        AccessDenied."""
        ...

    async def get_bucket_acl(self, principal: str | None, bucket: str) -> BucketInfo:
        """The bucket (its `acl` field) for its owner only: NoSuchBucket, AccessDenied."""
        ...

    async def list_buckets(self, principal: str | None) -> BucketList:
        """The principal's own buckets sorted by name. Anonymous or unknown: AccessDenied."""
        ...

    async def put_bucket_acl(self, principal: str | None, bucket: str, acl: str) -> None:
        """Owner-only: NoSuchBucket, AccessDenied, InvalidArgument for an unknown canned ACL."""
        ...

    # -- objects -------------------------------------------------------------------------

    async def commit_object(self, req: CommitObject) -> ObjectInfo:
        """Write a new latest version of a key (Enabled: a new version id, the previous latest
        kept as noncurrent; unversioned or Suspended: the "null" version, replacing the
        previous null version only), atomically with:
        - the conditional write against the latest version: `if_none_match` "*" fails with
          PreconditionFailed when an object exists (a delete marker does not count);
          `if_match` (quotes stripped, "*" or a list allowed) fails with NoSuchKey when none
          exists and PreconditionFailed when no ETag matches;
        - blob refcounts: +1 per reference of the new version, -1 per reference of the
          replaced null version; a blob reaching 0 gets `orphaned_at` = now;
        - the revival check: a blob row created or revived from refcount 0 must exist at
          `protocol.layout.blob_path` with the recorded size, else BlobMissing (nothing is
          committed, so the front fails the PUT). A known blob whose size differs from the
          reference: BlobSizeMismatch.
        Also: NoSuchBucket, AccessDenied (write access), KeyTooLongError (over 1,024 UTF-8
        bytes), InvalidArgument (empty key, bad digest, sizes not adding up)."""
        ...

    async def get_object_info(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo:
        """The latest version, or the version named by `version_id` ("null" included).
        NoSuchBucket, AccessDenied (read); NoSuchKey when the key has no version, and when its
        latest version is a delete marker (details "header:x-amz-delete-marker": "true",
        "header:x-amz-version-id": the marker's id); InvalidArgument for a version id no
        version can have; NoSuchVersion for an unknown one; MethodNotAllowed when it names a
        delete marker (same details plus "header:Last-Modified", RFC 7231). The front turns
        "header:" details into response headers."""
        ...

    async def delete_object(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectDeleted:
        """Without a version: unversioned bucket -> remove the null version (if any);
        Enabled -> add a delete marker as the latest version (even for a key that never
        existed); Suspended -> a delete marker with version "null" replacing the null version.
        The reply carries the marker's id and delete_marker=True in both versioned cases.
        With a version (owner only): remove that version for good, the next newest becoming
        the latest; the reply echoes the id, with delete_marker=True if the removed version was
        a marker. An unknown (well-formed) id succeeds, as on AWS; a malformed one is
        InvalidArgument. NoSuchBucket, AccessDenied."""
        ...

    async def delete_objects(
        self,
        principal: str | None,
        bucket: str,
        keys: list[str],
        version_ids: list[str | None] | None = None,
    ) -> ObjectsDeleted:
        """Delete up to 1,000 keys (each at the version of the parallel `version_ids` entry,
        None = like DeleteObject without a version) in one transaction, with a result per key
        as delete_object replies. Per key: AccessDenied when the principal may not delete it,
        NoSuchVersion for a malformed version id (AWS reports these per key). The front maps
        a deleted entry to AWS's DeletedObject: with a requested version, VersionId = it and,
        if delete_marker, DeleteMarker/DeleteMarkerVersionId = true/it; without one,
        DeleteMarker/DeleteMarkerVersionId = delete_marker/version_id. NoSuchBucket for the
        whole request; MalformedXML for no keys or more than 1,000; InvalidArgument when
        `version_ids` is given with another length than `keys`."""
        ...

    async def list_objects(
        self,
        principal: str | None,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = MAX_LIST_KEYS,
    ) -> ObjectList:
        """Current objects under `prefix` strictly after `after`, in UTF-8 binary order,
        contents and common prefixes merged; at most `max_keys` entries (0..1000, else
        InvalidArgument). `next_after` is the last entry returned. A delimiter listing skips
        each common prefix with a fresh index seek. Only latest versions that are not delete
        markers are listed. NoSuchBucket, AccessDenied (read)."""
        ...

    # -- versioning ----------------------------------------------------------------------

    async def put_bucket_versioning(self, principal: str | None, bucket: str, status: str) -> None:
        """Owner-only: NoSuchBucket, AccessDenied; MalformedXML unless status is "Enabled" or
        "Suspended". BucketInfo.versioning shows the state."""
        ...

    async def list_object_versions(
        self,
        principal: str | None,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = MAX_LIST_KEYS,
    ) -> VersionList:
        """Every version and delete marker under `prefix`: keys in UTF-8 binary order, newest
        first within a key, with is_latest. Starts after `key_marker` (exclusive) or, with
        `version_id_marker`, after that version of `key_marker`. Versions and common prefixes
        count together against `max_keys` (0..1000, else InvalidArgument); next_key_marker and
        next_version_id_marker (empty after a common prefix) are the last entry returned and
        are set only when truncated. InvalidArgument for a version-id marker without a key
        marker or a malformed one. NoSuchBucket, AccessDenied (read)."""
        ...

    # -- users and keys -----------------------------------------------------------------

    async def create_user(self, name: str) -> UserInfo:
        """A user with a fresh 64-hex canonical id. InvalidUserName for a bad name (1-64 of
        A-Z a-z 0-9 and +=,.@_-), EntityAlreadyExists for a taken one."""
        ...

    async def list_users(self) -> UserList:
        """Every user sorted by name, with the number of access keys each holds."""
        ...

    async def delete_user(self, name: str) -> None:
        """Delete the user and their keys. NoSuchEntity if unknown; DeleteConflict while the
        user owns buckets (they must be deleted or emptied first)."""
        ...

    async def create_key(self, user: str) -> AccessKeyInfo:
        """A new Active key for the named user, secret included (shown only now; stored
        encrypted with AES-256-GCM under the master key). NoSuchEntity if the user is unknown."""
        ...

    async def get_access_key(self, access_key_id: str) -> AccessKeyInfo:
        """The key with its decrypted secret and status (Inactive keys are returned so the
        front answers InvalidAccessKeyId itself). Unknown: InvalidAccessKeyId."""
        ...

    async def list_keys(self, user: str | None = None) -> KeyList:
        """Keys of one user (NoSuchEntity if unknown) or of everyone, secrets left empty."""
        ...

    async def revoke_key(self, access_key_id: str) -> None:
        """Mark the key Inactive (idempotent). NoSuchEntity if unknown."""
        ...

    # -- maintenance hooks for gc.py and scrub.py ---------------------------------------

    async def orphaned_blobs(self, older_than: float, limit: int) -> list[BlobRow]:
        """Blobs with refcount 0 orphaned at or before `older_than`, oldest first."""
        ...

    async def drop_orphans(
        self, sha256s: list[str], older_than: float, unlink: UnlinkBlobs
    ) -> list[BlobRow]:
        """In one write transaction: delete the row of each listed blob still at refcount 0
        and orphaned at or before `older_than`, then call `unlink` with the deleted addresses
        before COMMIT, so no commit can revive one in between. Returns the rows deleted."""
        ...

    async def blob_page(self, after: str, limit: int) -> list[BlobRow]:
        """Blob rows with sha256 > `after`, in address order (scrub walks them this way)."""
        ...

    async def quarantine_blob(self, sha256: str, move: QuarantineBlob) -> int:
        """In one write transaction: call `move`; if it moved the file, mark every object
        version referencing the blob corrupt. Returns the number of object rows marked."""
        ...

    async def expire_uploads(
        self, initiated_before: float, completed_before: float, limit: int
    ) -> int:
        """In one write transaction: abort up to `limit` uploads in progress initiated at or
        before `initiated_before` (their part references released) and forget up to `limit`
        completed-upload records completed at or before `completed_before`. Returns the
        number of uploads aborted."""
        ...

    async def unknown_blobs(self, sha256s: list[str]) -> list[str]:
        """The addresses among `sha256s` that have no blob row (files nobody committed)."""
        ...

    async def drop_leaked(self, sha256s: list[str], remove: RemoveLeaked) -> list[tuple[str, int]]:
        """In one write transaction: call `remove` with those of `sha256s` that still have
        no blob row, so no commit can create one in between; returns what `remove` did."""
        ...

    async def gc_state(self, name: str) -> str:
        """A value GC saved between passes ("" if never saved)."""
        ...

    async def set_gc_state(self, name: str, value: str) -> None:
        """Save a value for the next GC pass (durable like any write)."""
        ...
