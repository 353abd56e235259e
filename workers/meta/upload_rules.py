"""Pure S3 rules of multipart uploads: part numbers, the part list of a completion, part
sizes, the multipart ETag and the object checksum. Every engine completes uploads with these."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from protocol.meta import CompletedPart
from workers.meta import checksums
from workers.meta.rules import error

MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10000
MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_LIST_PARTS = 1000
MAX_LIST_UPLOADS = 1000
_MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class StoredPart:
    """A part as the store recorded it at RegisterPart."""

    number: int
    sha256: str
    size: int
    md5: str
    checksums: dict[str, str]


def check_part_number(number: int) -> None:
    if not MIN_PART_NUMBER <= number <= MAX_PART_NUMBER:
        raise error(
            "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"
        )


def check_md5(md5: str) -> None:
    if not _MD5.fullmatch(md5):
        raise error("InvalidArgument", f"A part needs the lowercase hex MD5 of its bytes: {md5!r}")


def check_list_limit(name: str, value: int, cap: int) -> None:
    if not 0 <= value <= cap:
        raise error("InvalidArgument", f"{name} must be between 0 and {cap}.")


def normal_etag(etag: str) -> str:
    """An ETag as a client lists it, compared the way S3 does: quotes and case ignored."""
    return etag.strip().strip('"').lower()


def check_part_list(parts: Sequence[CompletedPart]) -> None:
    """MalformedXML for an empty list, InvalidPartOrder unless strictly ascending."""
    if not parts:
        raise error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our"
            " published schema",
        )
    for before, after in itertools.pairwise(parts):
        if after.part_number <= before.part_number:
            raise error(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be"
                " specified in order by part number.",
            )


def _invalid_part(number: int) -> Exception:
    return error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been"
        " uploaded, or the specified entity tag may not match the part's entity tag."
        f" (part {number})",
    )


def choose_parts(
    listed: Sequence[CompletedPart], stored: dict[int, StoredPart]
) -> list[StoredPart]:
    """The stored parts a completion names, each checked: present, same ETag, same listed
    checksums (InvalidPart), and all but the last at least 5 MiB (EntityTooSmall)."""
    chosen: list[StoredPart] = []
    for item in listed:
        part = stored.get(item.part_number)
        if part is None or normal_etag(item.etag) != part.md5:
            raise _invalid_part(item.part_number)
        for algorithm, value in item.checksums.items():
            known = part.checksums.get(algorithm.lower())
            if known is not None and known != value:
                raise _invalid_part(item.part_number)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise error(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size. Each"
                f" part must be at least 5 MB in size, except the last part. (part {part.number}:"
                f" {part.size} bytes)",
            )
    return chosen


def multipart_etag(md5s: Sequence[str]) -> str:
    """hex(MD5 of the concatenated binary part MD5s) + "-N"."""
    joined = b"".join(bytes.fromhex(md5) for md5 in md5s)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(md5s)}"


def object_checksums(
    algorithm: str | None,
    checksum_type: str | None,
    listed: Sequence[CompletedPart],
    chosen: Sequence[StoredPart],
) -> dict[str, str]:
    """The checksum the completed object records (algorithm -> value), or {} when a part
    lacks one (a part copied without recomputing it). A COMPOSITE upload needs every part's
    checksum in the complete request, as on AWS (InvalidRequest). An upload created without
    an algorithm still gets S3's default full-object CRC64NVME when every part carries one."""
    if algorithm is not None and checksum_type == checksums.COMPOSITE:
        for item, part in zip(listed, chosen, strict=True):
            given = {name.lower() for name in item.checksums}
            if algorithm in part.checksums and algorithm not in given:
                raise error(
                    "InvalidRequest",
                    f"The upload was created using a {algorithm} checksum. The complete request"
                    " must include the checksum for each part. It was missing for part"
                    f" {part.number} in the request.",
                )
    name = algorithm or "crc64nvme"
    kind = checksum_type if algorithm is not None else checksums.FULL_OBJECT
    values = [part.checksums.get(name) for part in chosen]
    present = [value for value in values if value is not None]
    if len(present) != len(chosen):
        return {}
    if kind == checksums.COMPOSITE:
        return {name: checksums.composite(name, present)}
    return {
        name: checksums.full_object(
            name, [(value, part.size) for value, part in zip(present, chosen, strict=True)]
        )
    }
