"""Where each listing starts and how a walked Page (workers/meta/walk.py) becomes its reply:
ListObjects, ListObjectVersions and ListMultipartUploads, the same for every engine."""

from __future__ import annotations

from collections.abc import Mapping

from protocol.meta import ObjectList, UploadList, VersionList
from workers.meta import ids, records, rules
from workers.meta.ids import NULL_VERSION
from workers.meta.walk import Page, Position


def upper_bound(prefix: str) -> str | None:
    """The exclusive upper bound of the keys under `prefix` (None: no bound)."""
    return rules.successor(prefix) if prefix else None


def start_position(prefix: str, marker: str) -> Position | None:
    """Where a listing under `prefix` resuming after `marker` starts: at the prefix when the
    marker is before it, after the marker otherwise; None when the marker is past the
    prefix's range (an empty page). Python compares str by code point, which is UTF-8 byte
    order, the order keys are listed in."""
    if not marker or marker < prefix:
        return Position(prefix, inclusive=True)
    upper = upper_bound(prefix)
    if upper is not None and marker >= upper:
        return None
    return Position(marker)


def versions_resume(key_marker: str, version_id_marker: str, null_seq: int | None) -> Position:
    """Where ListObjectVersions resumes after `key_marker` / `version_id_marker`. A generated
    version id carries its stamp; the "null" version's stamp (`null_seq`) is looked up by the
    engine, None when that version was deleted since: then the next key."""
    if not version_id_marker:
        return Position(key_marker)
    if version_id_marker != NULL_VERSION:
        return Position(key_marker, within=ids.version_stamp(version_id_marker))
    return Position(key_marker) if null_seq is None else Position(key_marker, within=null_seq)


def uploads_resume(key_marker: str, upload_id_marker: str) -> Position:
    """Where ListMultipartUploads resumes: the uploads of the marker key after that upload,
    then the keys after it (AWS ignores upload-id-marker without key-marker)."""
    if upload_id_marker:
        return Position(key_marker, within=upload_id_marker)
    return Position(key_marker)


def object_list(page: Page, owner_names: Mapping[str, str]) -> ObjectList:
    """`owner_names`: the names of the page's owners (see records.object_summaries)."""
    return ObjectList(
        contents=records.object_summaries(page.rows, owner_names),
        common_prefixes=page.prefixes,
        is_truncated=page.truncated,
        next_after=page.last_key,
    )


def version_list(page: Page) -> VersionList:
    result = VersionList(
        versions=[records.version_summary(row) for row in page.rows],
        common_prefixes=page.prefixes,
        is_truncated=page.truncated,
    )
    if page.truncated:
        result.next_key_marker = page.last_key
        result.next_version_id_marker = "" if page.last_row is None else page.last_row[1]
    return result


def upload_list(page: Page) -> UploadList:
    result = UploadList(
        uploads=[records.upload_summary(row) for row in page.rows],
        common_prefixes=page.prefixes,
        is_truncated=page.truncated,
    )
    if page.truncated:
        result.next_key_marker = page.last_key
        result.next_upload_id_marker = "" if page.last_row is None else page.last_row[1]
    return result
