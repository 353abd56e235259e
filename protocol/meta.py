"""Front / supervisor <-> meta process messages: buckets, objects, listings, users, keys, GC.

`principal` is the canonical id of the authenticated user, or None for an anonymous
request; the meta process decides access from bucket ownership and ACL.
"""

from __future__ import annotations

import msgspec

from protocol.base import Message


class Record(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A plain value embedded in messages (untagged: lists of them stay compact).

    Untracked by the garbage collector (gc=False): a record holds values and lists of other
    records, never a reference back, so it cannot be in a cycle; a 1000-key listing page
    decoded 16% faster and encoded 35% faster without the tracking."""


class BlobRef(Record):
    sha256: str
    size: int
    md5: str = ""


class ObjectInfo(Message):
    bucket: str
    key: str
    size: int
    etag: str  # unquoted: hex MD5, or hex-N for multipart
    last_modified: float  # epoch seconds, millisecond precision
    blobs: list[BlobRef] = []
    headers: dict[str, str] = {}  # content-type, content-encoding, cache-control, ...
    user_meta: dict[str, str] = {}  # x-amz-meta-* without the prefix, lowercase names
    checksums: dict[str, str] = {}  # algorithm -> base64
    storage_class: str = "STANDARD"
    version_id: str | None = None
    delete_marker: bool = False
    owner_id: str = ""
    owner_name: str = ""
    corrupt: bool = False


class BucketInfo(Message):
    name: str
    owner_id: str
    owner_name: str
    created: float
    region: str = "us-east-1"
    acl: str = "private"
    versioning: str = ""  # "", "Enabled", "Suspended"


# --- buckets -----------------------------------------------------------------


class CreateBucket(Message):
    principal: str | None
    bucket: str
    region: str = "us-east-1"
    acl: str = "private"


class DeleteBucket(Message):
    principal: str | None
    bucket: str


class HeadBucket(Message):
    principal: str | None
    bucket: str
    write: bool = False  # check write access rather than read


class ListBuckets(Message):
    principal: str | None


class BucketList(Message):
    owner_id: str
    owner_name: str
    buckets: list[BucketInfo] = []


class PutBucketAcl(Message):
    principal: str | None
    bucket: str
    acl: str


# --- objects -----------------------------------------------------------------


class CommitObject(Message):
    principal: str | None
    bucket: str
    key: str
    size: int
    etag: str
    blobs: list[BlobRef]
    headers: dict[str, str] = {}
    user_meta: dict[str, str] = {}
    checksums: dict[str, str] = {}
    storage_class: str = "STANDARD"
    # Conditional write, checked atomically with the commit: "*" or an ETag.
    if_none_match: str | None = None
    if_match: str | None = None


class GetObjectInfo(Message):
    principal: str | None
    bucket: str
    key: str
    version_id: str | None = None


class DeleteObject(Message):
    principal: str | None
    bucket: str
    key: str
    version_id: str | None = None


class ObjectDeleted(Message):
    key: str
    version_id: str | None = None
    delete_marker: bool = False


class DeleteObjects(Message):
    principal: str | None
    bucket: str
    keys: list[str]
    # When given, one entry per key: the version to delete permanently (None = latest).
    version_ids: list[str | None] = []


class DeleteFailure(Record):
    key: str
    code: str
    message: str
    version_id: str = ""  # the version the request named, echoed back as S3 does


class ObjectsDeleted(Message):
    deleted: list[ObjectDeleted] = []
    errors: list[DeleteFailure] = []


class ListObjects(Message):
    principal: str | None
    bucket: str
    prefix: str = ""
    delimiter: str = ""
    after: str = ""  # exclusive start key (marker / start-after / decoded token)
    max_keys: int = 1000


class ObjectSummary(Record):
    key: str
    size: int
    etag: str
    last_modified: float
    storage_class: str = "STANDARD"
    owner_id: str = ""
    owner_name: str = ""


class ObjectList(Message):
    contents: list[ObjectSummary] = []
    common_prefixes: list[str] = []
    is_truncated: bool = False
    # The last key or common prefix returned: where the next page starts (exclusive).
    next_after: str = ""


# --- users and keys ----------------------------------------------------------


class GetAccessKey(Message):
    access_key_id: str


class AccessKeyInfo(Message):
    access_key_id: str
    secret: str
    user_id: str
    user_name: str
    status: str = "Active"
    created: float = 0.0


class CreateUser(Message):
    name: str


class UserInfo(Message):
    user_id: str
    name: str
    created: float
    keys: int = 0


class ListUsers(Message):
    pass


class UserList(Message):
    users: list[UserInfo] = []


class DeleteUser(Message):
    name: str


class CreateKey(Message):
    user: str  # user name


class ListKeys(Message):
    user: str | None = None


class KeyList(Message):
    # The secret field of each entry is empty: secrets are shown only at creation.
    keys: list[AccessKeyInfo] = []


class RevokeKey(Message):
    access_key_id: str


# --- maintenance -------------------------------------------------------------


class Ping(Message):
    pass


class Pong(Message):
    database: bool
    detail: dict[str, str] = {}


class RunGC(Message):
    grace_period: float | None = None  # override config (tests, operators in a hurry)
    dry_run: bool | None = None


class GCReport(Message):
    examined: int = 0
    deleted: int = 0
    freed_bytes: int = 0
    temp_removed: int = 0
    dry_run: bool = False
    duration: float = 0.0


class RunScrub(Message):
    pass


class ScrubReport(Message):
    checked: int = 0
    bytes_checked: int = 0
    corrupt: list[str] = []  # sha256 of quarantined blobs
    missing: list[str] = []
    objects_marked: int = 0
    duration: float = 0.0


# --- multipart uploads -------------------------------------------------------


class CreateMultipartUpload(Message):
    principal: str | None
    bucket: str
    key: str
    headers: dict[str, str] = {}
    user_meta: dict[str, str] = {}
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None  # lowercase S3 name, when the client asked for one
    checksum_type: str | None = None  # "COMPOSITE" or "FULL_OBJECT"


class UploadCreated(Message):
    upload_id: str


class RegisterPart(Message):
    """Record an uploaded part (its blob is already durable); replaces the same number."""

    principal: str | None
    bucket: str
    key: str
    upload_id: str
    part_number: int
    blob: BlobRef
    checksums: dict[str, str] = {}


class PartRegistered(Message):
    etag: str


class PartSummary(Record):
    part_number: int
    etag: str
    size: int
    last_modified: float
    checksums: dict[str, str] = {}


class ListParts(Message):
    principal: str | None
    bucket: str
    key: str
    upload_id: str
    part_number_marker: int = 0
    max_parts: int = 1000


class PartList(Message):
    parts: list[PartSummary] = []
    is_truncated: bool = False
    next_part_number_marker: int = 0
    owner_id: str = ""
    owner_name: str = ""
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


class CompletedPart(Record):
    part_number: int
    etag: str  # as the client listed it (quotes stripped by the front)
    checksums: dict[str, str] = {}


class CompleteMultipartUpload(Message):
    principal: str | None
    bucket: str
    key: str
    upload_id: str
    parts: list[CompletedPart]
    if_none_match: str | None = None
    if_match: str | None = None


class AbortMultipartUpload(Message):
    principal: str | None
    bucket: str
    key: str
    upload_id: str


class UploadSummary(Record):
    key: str
    upload_id: str
    initiated: float
    storage_class: str = "STANDARD"
    owner_id: str = ""
    owner_name: str = ""
    checksum_algorithm: str | None = None


class ListMultipartUploads(Message):
    principal: str | None
    bucket: str
    prefix: str = ""
    delimiter: str = ""
    key_marker: str = ""
    upload_id_marker: str = ""
    max_uploads: int = 1000


class UploadList(Message):
    uploads: list[UploadSummary] = []
    common_prefixes: list[str] = []
    is_truncated: bool = False
    next_key_marker: str = ""
    next_upload_id_marker: str = ""


# --- versioning --------------------------------------------------------------


class PutBucketVersioning(Message):
    principal: str | None
    bucket: str
    status: str  # "Enabled" or "Suspended"


class ListObjectVersions(Message):
    principal: str | None
    bucket: str
    prefix: str = ""
    delimiter: str = ""
    key_marker: str = ""
    version_id_marker: str = ""
    max_keys: int = 1000


class VersionSummary(Record):
    key: str
    version_id: str  # "null" for the null version
    is_latest: bool
    delete_marker: bool = False
    size: int = 0
    etag: str = ""
    last_modified: float = 0.0
    storage_class: str = "STANDARD"
    owner_id: str = ""
    owner_name: str = ""


class VersionList(Message):
    versions: list[VersionSummary] = []  # versions and delete markers, in S3 order
    common_prefixes: list[str] = []
    is_truncated: bool = False
    next_key_marker: str = ""
    next_version_id_marker: str = ""


# --- schema ------------------------------------------------------------------


class GetMigrations(Message):
    pass


class MigrationEntry(Record):
    version: int
    name: str
    applied_at: float | None = None  # None: known to this build, not applied yet


class MigrationList(Message):
    driver: str
    migrations: list[MigrationEntry] = []
