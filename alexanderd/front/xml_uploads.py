"""S3 XML documents of multipart uploads and object versions (renderers and the one parser)."""

from __future__ import annotations

from alexanderd.front.errors import xml_escape
from alexanderd.front.s3types import iso8601_ms, url_encode_key
from alexanderd.front.xml import (
    _bool,
    _child_text,
    _children,
    _doc,
    _malformed,
    _owner,
    _parse,
    _quoted_etag,
    _text,
)
from protocol.blob import CHECKSUM_ALGORITHMS
from protocol.meta import CompletedPart, PartList, UploadList, VersionList

MAX_PARTS = 10000
# XML element name of each checksum (ChecksumCRC32, ...), as S3 spells them.
CHECKSUM_ELEMENTS = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
}


def _checksums(values: dict[str, str]) -> str:
    return "".join(
        f"<{CHECKSUM_ELEMENTS[a]}>{xml_escape(v)}</{CHECKSUM_ELEMENTS[a]}>"
        for a, v in values.items()
        if a in CHECKSUM_ELEMENTS
    )


def initiate_xml(bucket: str, key: str, upload_id: str) -> bytes:
    return _doc(
        "InitiateMultipartUploadResult",
        f"<Bucket>{xml_escape(bucket)}</Bucket><Key>{xml_escape(key)}</Key>"
        f"<UploadId>{xml_escape(upload_id)}</UploadId>",
    )


def complete_xml(
    location: str, bucket: str, key: str, etag: str, checksums: dict[str, str]
) -> bytes:
    kind = ""
    if checksums:
        composite = any("-" in v for v in checksums.values())
        kind = f"<ChecksumType>{'COMPOSITE' if composite else 'FULL_OBJECT'}</ChecksumType>"
    return _doc(
        "CompleteMultipartUploadResult",
        f"<Location>{xml_escape(location)}</Location><Bucket>{xml_escape(bucket)}</Bucket>"
        f"<Key>{xml_escape(key)}</Key><ETag>{_quoted_etag(etag)}</ETag>"
        + _checksums(checksums)
        + kind,
    )


def list_parts_xml(
    bucket: str, key: str, upload_id: str, result: PartList, *, marker: int, max_parts: int
) -> bytes:
    parts = [
        f"<Bucket>{xml_escape(bucket)}</Bucket><Key>{xml_escape(key)}</Key>"
        f"<UploadId>{xml_escape(upload_id)}</UploadId>",
        _owner(result.owner_id, result.owner_name).replace("Owner>", "Initiator>"),
        _owner(result.owner_id, result.owner_name),
        f"<StorageClass>{xml_escape(result.storage_class)}</StorageClass>",
        f"<PartNumberMarker>{marker}</PartNumberMarker>",
        f"<NextPartNumberMarker>{result.next_part_number_marker}</NextPartNumberMarker>",
        f"<MaxParts>{max_parts}</MaxParts>",
        f"<IsTruncated>{_bool(result.is_truncated)}</IsTruncated>",
    ]
    if result.checksum_algorithm:
        parts.append(f"<ChecksumAlgorithm>{result.checksum_algorithm.upper()}</ChecksumAlgorithm>")
    if result.checksum_type:
        parts.append(f"<ChecksumType>{xml_escape(result.checksum_type)}</ChecksumType>")
    for p in result.parts:
        parts.append(
            f"<Part><PartNumber>{p.part_number}</PartNumber>"
            f"<LastModified>{iso8601_ms(p.last_modified)}</LastModified>"
            f"<ETag>{_quoted_etag(p.etag)}</ETag><Size>{p.size}</Size>"
            + _checksums(p.checksums)
            + "</Part>"
        )
    return _doc("ListPartsResult", "".join(parts))


def list_uploads_xml(
    bucket: str,
    result: UploadList,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
    encoding_url: bool,
) -> bytes:
    parts = [
        f"<Bucket>{xml_escape(bucket)}</Bucket>",
        _text("KeyMarker", key_marker, encoding_url),
        f"<UploadIdMarker>{xml_escape(upload_id_marker)}</UploadIdMarker>",
        _text("NextKeyMarker", result.next_key_marker, encoding_url),
        f"<NextUploadIdMarker>{xml_escape(result.next_upload_id_marker)}</NextUploadIdMarker>",
        _text("Prefix", prefix, encoding_url),
    ]
    if delimiter:
        parts.append(_text("Delimiter", delimiter, encoding_url))
    parts.append(f"<MaxUploads>{max_uploads}</MaxUploads>")
    if encoding_url:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{_bool(result.is_truncated)}</IsTruncated>")
    for u in result.uploads:
        owner = _owner(u.owner_id, u.owner_name)
        parts.append(
            "<Upload>"
            + _text("Key", u.key, encoding_url)
            + f"<UploadId>{xml_escape(u.upload_id)}</UploadId>"
            + owner.replace("Owner>", "Initiator>")
            + owner
            + f"<StorageClass>{xml_escape(u.storage_class)}</StorageClass>"
            + f"<Initiated>{iso8601_ms(u.initiated)}</Initiated>"
            + (
                f"<ChecksumAlgorithm>{u.checksum_algorithm.upper()}</ChecksumAlgorithm>"
                if u.checksum_algorithm
                else ""
            )
            + "</Upload>"
        )
    for p in result.common_prefixes:
        parts.append(f"<CommonPrefixes>{_text('Prefix', p, encoding_url)}</CommonPrefixes>")
    return _doc("ListMultipartUploadsResult", "".join(parts))


def list_versions_xml(
    bucket: str,
    result: VersionList,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
    encoding_url: bool,
) -> bytes:
    parts = [
        f"<Name>{xml_escape(bucket)}</Name>",
        _text("Prefix", prefix, encoding_url),
        _text("KeyMarker", key_marker, encoding_url),
        f"<VersionIdMarker>{xml_escape(version_id_marker)}</VersionIdMarker>",
    ]
    if result.is_truncated:
        parts.append(_text("NextKeyMarker", result.next_key_marker, encoding_url))
        parts.append(
            f"<NextVersionIdMarker>{xml_escape(result.next_version_id_marker)}"
            "</NextVersionIdMarker>"
        )
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    if delimiter:
        parts.append(_text("Delimiter", delimiter, encoding_url))
    if encoding_url:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{_bool(result.is_truncated)}</IsTruncated>")
    for v in result.versions:
        head = (
            _text("Key", v.key, encoding_url)
            + f"<VersionId>{xml_escape(v.version_id)}</VersionId>"
            + f"<IsLatest>{_bool(v.is_latest)}</IsLatest>"
            + f"<LastModified>{iso8601_ms(v.last_modified)}</LastModified>"
        )
        owner = _owner(v.owner_id, v.owner_name)
        if v.delete_marker:
            parts.append(f"<DeleteMarker>{head}{owner}</DeleteMarker>")
        else:
            parts.append(
                f"<Version>{head}<ETag>{_quoted_etag(v.etag)}</ETag><Size>{v.size}</Size>"
                f"<StorageClass>{xml_escape(v.storage_class)}</StorageClass>{owner}</Version>"
            )
    for p in result.common_prefixes:
        parts.append(f"<CommonPrefixes>{_text('Prefix', p, encoding_url)}</CommonPrefixes>")
    return _doc("ListVersionsResult", "".join(parts))


def parse_complete(body: bytes) -> list[CompletedPart]:
    """The part list of a CompleteMultipartUpload body (order as sent: meta checks it)."""
    root = _parse(body, "CompleteMultipartUpload")
    parts: list[CompletedPart] = []
    for element in _children(root, "Part"):
        number = (_child_text(element, "PartNumber") or "").strip()
        etag = (_child_text(element, "ETag") or "").strip().strip('"')
        if not number.isdigit() or not etag:
            raise _malformed("each Part needs a PartNumber and an ETag")
        checksums = {}
        for algo in CHECKSUM_ALGORITHMS:
            value = _child_text(element, CHECKSUM_ELEMENTS[algo])
            if value:
                checksums[algo] = value.strip()
        parts.append(CompletedPart(part_number=int(number), etag=etag, checksums=checksums))
    if not parts or len(parts) > MAX_PARTS:
        raise _malformed("a CompleteMultipartUpload lists 1 to 10,000 parts")
    return parts


def url_key(key: str, encode: bool) -> str:
    return url_encode_key(key) if encode else key
