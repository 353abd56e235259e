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
decision, as on AWS.
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
)

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
    scrub_runs: int = 0
    scrub_corrupt: int = 0
    scrub_last_success: float | None = None


# Called inside the writer's transaction, before COMMIT: removes the files of the blobs whose
# rows were just deleted (GC), and makes the removals durable.
UnlinkBlobs = Callable[[list[str]], None]
# Called inside the writer's transaction: moves one blob's file aside; False if it was gone.
QuarantineBlob = Callable[[str], bool]


class MetaStore(Protocol):
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
        """Insert or replace the current version of a key, atomically with:
        - the conditional write: `if_none_match` "*" fails with PreconditionFailed when a
          current object exists; `if_match` (quotes stripped, "*" or a list allowed) fails
          with NoSuchKey when none exists and PreconditionFailed when no ETag matches;
        - blob refcounts: +1 per reference of the new version, -1 per reference of the
          replaced one; a blob reaching 0 gets `orphaned_at` = now;
        - the revival check: a blob row created or revived from refcount 0 must exist at
          `workers.layout.blob_path` with the recorded size, else BlobMissing (nothing is
          committed, so the front fails the PUT). A known blob whose size differs from the
          reference: BlobSizeMismatch.
        Also: NoSuchBucket, AccessDenied (write access), KeyTooLongError (over 1,024 UTF-8
        bytes), InvalidArgument (empty key, bad digest, sizes not adding up)."""
        ...

    async def get_object_info(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo:
        """The current version (or the "null" version by id): NoSuchBucket, AccessDenied,
        NoSuchKey; another version id: NoSuchVersion (versioning is not enabled yet)."""
        ...

    async def delete_object(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectDeleted:
        """Remove the current ("null") version and release its blobs. Idempotent: deleting a
        missing key (or a version id other than "null", which cannot exist until versioning
        lands) succeeds, as on AWS. NoSuchBucket, AccessDenied (write access)."""
        ...

    async def delete_objects(
        self, principal: str | None, bucket: str, keys: list[str]
    ) -> ObjectsDeleted:
        """Delete up to 1,000 keys in one transaction with a result per key (a key the
        principal may not delete is reported as AccessDenied). NoSuchBucket for the whole
        request; MalformedXML for no keys or more than 1,000."""
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
        each common prefix with a fresh index seek. NoSuchBucket, AccessDenied (read)."""
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
