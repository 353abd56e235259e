"""The multipart-upload part of the metadata engine's contract (MetaStore extends it).

AWS semantics (CreateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload,
AbortMultipartUpload, ListMultipartUploads). An upload belongs to one bucket and key: a
request naming another key, or an upload that was aborted, completed or expired, gets
NoSuchUpload. Each registered part holds one reference on its blob until the upload is
completed or aborted; so refcounts stay exact whatever the clients do. Part and upload
operations need write access to the bucket, ListMultipartUploads read access.
"""

from __future__ import annotations

from typing import Protocol

from protocol.meta import (
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


class UploadStore(Protocol):
    async def create_multipart_upload(self, req: CreateMultipartUpload) -> UploadCreated:
        """A new upload id (39 URL-safe characters, 130 random bits, sorting by initiation
        time) recording the headers, metadata, storage class and checksum settings the object
        will get. The checksum type defaults per algorithm (FULL_OBJECT for crc64nvme,
        COMPOSITE otherwise); InvalidRequest for an unknown algorithm or type, a type without
        an algorithm, or a pairing S3 does not support (crc64nvme COMPOSITE, sha FULL_OBJECT).
        NoSuchBucket, AccessDenied, KeyTooLongError, InvalidArgument (empty key)."""
        ...

    async def register_part(self, req: RegisterPart) -> PartRegistered:
        """Record a part whose blob is durable, replacing a part of the same number (its blob
        reference is given back). Takes one reference on the blob with commit_object's
        revival check (BlobMissing, BlobSizeMismatch). InvalidArgument for a part number
        outside 1..10000 or a blob without a hex MD5; NoSuchUpload. A refused part's blob is
        registered as an orphan for GC. Replies with the part's ETag (hex MD5)."""
        ...

    async def list_parts(self, req: ListParts) -> PartList:
        """Parts after `part_number_marker` in ascending order, at most `max_parts`
        (0..1000, else InvalidArgument); next_part_number_marker is the last part returned.
        Owner (the initiator), storage class and checksum settings of the upload.
        NoSuchUpload, NoSuchBucket, AccessDenied."""
        ...

    async def complete_multipart_upload(self, req: CompleteMultipartUpload) -> ObjectInfo:
        """In one transaction: MalformedXML for an empty part list; InvalidPartOrder unless
        part numbers ascend strictly; InvalidPart for a part not uploaded or whose ETag (or a
        listed checksum) differs; EntityTooSmall for a part under 5 MiB but the last; for a
        COMPOSITE upload, InvalidRequest when a part's checksum is missing from the list; the
        conditional write (If-None-Match "*", If-Match) as commit_object. The object gets the
        chosen parts' blobs in order, size = their sum, ETag = hex(MD5(binary part MD5s))-N,
        the upload's headers, metadata and storage class, and its checksum: COMPOSITE
        base64(H(part checksums))-N or FULL_OBJECT (CRC combination, no suffix); without an
        algorithm, the full-object crc64nvme when every part carries one. It becomes a new
        version under the bucket's versioning state, as commit_object. The upload's part
        references are given back (unused parts become orphans). Completing a completed
        upload again with the same part list returns the same ObjectInfo; with another list,
        NoSuchUpload. NoSuchBucket, AccessDenied."""
        ...

    async def abort_multipart_upload(
        self, principal: str | None, bucket: str, key: str, upload_id: str
    ) -> None:
        """Forget the upload and give back every part reference. NoSuchUpload (also for a
        completed upload), NoSuchBucket, AccessDenied."""
        ...

    async def list_multipart_uploads(self, req: ListMultipartUploads) -> UploadList:
        """Uploads in progress under `prefix`, by key then initiation time, common prefixes
        rolled up with `delimiter`; after `key_marker` (exclusive) or, with
        `upload_id_marker`, after that upload of `key_marker`. Uploads and prefixes count
        together against `max_uploads` (0..1000, else InvalidArgument); the next markers are
        the last entry returned (upload id empty after a prefix), set only when truncated.
        NoSuchBucket, AccessDenied (read)."""
        ...
