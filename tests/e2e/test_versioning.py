"""Versioning against the real daemon: each rule, then a randomized comparison with a model."""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def new_bucket(s3: Any) -> str:
    name = f"ver-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    return name


def test_never_versioned_bucket_has_empty_configuration(s3: Any) -> None:
    bucket = new_bucket(s3)
    config = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in config
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert "VersionId" not in put
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"1"


def test_enabled_versions_and_delete_markers(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="doc", Body=b"two")["VersionId"]
    assert v1 != v2 and v1 != "null"
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    assert s3.get_object(Bucket=bucket, Key="doc", VersionId=v1)["Body"].read() == b"one"
    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc")
    assert code(exc.value) == "NoSuchKey"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    listing = s3.list_object_versions(Bucket=bucket)
    assert [m["VersionId"] for m in listing["DeleteMarkers"]] == [marker]
    assert [v["VersionId"] for v in listing["Versions"]] == [v2, v1]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # Removing the marker permanently brings the previous version back.
    removed = s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"one"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc", VersionId="0" * 32)
    assert code(exc.value) == "NoSuchVersion"


def test_suspended_bucket_uses_the_null_version(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the null version
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"enabled")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"suspended")  # replaces the null version
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert ids == ["null", kept]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"suspended"
    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True and marker.get("VersionId") == "null"
    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing["Versions"]] == [kept]
    assert [m["VersionId"] for m in listing["DeleteMarkers"]] == ["null"]


def test_copy_from_a_version_and_delete_objects_by_version(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"old")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    copied = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1}
    )
    assert copied["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old"
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "src", "VersionId": v1}, {"Key": "dst"}]}
    )
    deleted = {d["Key"]: d for d in result["Deleted"]}
    assert deleted["src"]["VersionId"] == v1
    assert deleted["dst"]["DeleteMarker"] is True
    # A failure names the version it was about, as S3's <Error><VersionId> does.
    failed = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "dst", "VersionId": "not-a-version"}]}
    )
    assert failed["Errors"] == [
        {
            "Key": "dst",
            "VersionId": "not-a-version",
            "Code": "NoSuchVersion",
            "Message": "The specified version does not exist.",
        }
    ]


@dataclass
class KeyModel:
    versions: list[tuple[str, bool, str]] = field(default_factory=list)  # (id, marker, md5)


def test_randomized_against_a_model(s3: Any) -> None:
    bucket = new_bucket(s3)
    rng = random.Random(2026)
    state = ""
    model: dict[str, KeyModel] = {k: KeyModel() for k in ("a", "b", "c/d")}
    for step in range(160):
        key = rng.choice(list(model))
        versions = model[key].versions
        roll = rng.random()
        if roll < 0.06:
            state = "Suspended" if state == "Enabled" else "Enabled"
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})
        elif roll < 0.55:
            body = os.urandom(rng.randrange(1, 300))
            vid = s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId", "null")
            if state != "Enabled":
                versions[:] = [v for v in versions if v[0] != "null"]
            versions.insert(0, (vid, False, hashlib.md5(body).hexdigest()))
        elif roll < 0.75:
            out = s3.delete_object(Bucket=bucket, Key=key)
            if state == "":
                versions.clear()
            else:
                if state == "Suspended":
                    versions[:] = [v for v in versions if v[0] != "null"]
                versions.insert(0, (out["VersionId"], True, ""))
        elif versions:
            victim = rng.choice(versions)
            s3.delete_object(Bucket=bucket, Key=key, VersionId=victim[0])
            versions.remove(victim)
        # Compare the whole bucket with the model after every step.
        listing = s3.list_object_versions(Bucket=bucket)
        entries = [
            (v["Key"], v["VersionId"], False, v["ETag"].strip('"'), v["IsLatest"])
            for v in listing.get("Versions", [])
        ]
        entries += [
            (m["Key"], m["VersionId"], True, "", m["IsLatest"])
            for m in listing.get("DeleteMarkers", [])
        ]
        got = {k: [(e[1], e[2], e[3]) for e in entries if e[0] == k] for k in model}
        order = {k: [e[1] for e in entries if e[0] == k] for k in model}
        for k, km in model.items():
            assert sorted(got[k]) == sorted(km.versions), f"step {step} key {k}"
            latest = [e[1] for e in entries if e[0] == k and e[4]]
            assert latest == ([km.versions[0][0]] if km.versions else []), f"step {step} {k}"
            assert set(order[k]) == {v[0] for v in km.versions}
            current = km.versions[0] if km.versions else None
            if current is None or current[1]:
                with pytest.raises(ClientError) as exc:
                    s3.head_object(Bucket=bucket, Key=k)
                assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
            else:
                assert s3.head_object(Bucket=bucket, Key=k)["ETag"].strip('"') == current[2]
