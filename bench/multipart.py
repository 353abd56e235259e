"""The multipart workload: one 256 MiB object in 16 MiB parts, 4 parts in flight (boto3's
transfer manager, the way aws-cli and most SDK users upload large files)."""

from __future__ import annotations

import io
import os
import time

import boto3  # type: ignore[import-untyped]
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from bench.servers import Endpoint
from bench.stats import Figure

MiB = 1024 * 1024


def run_multipart(ep: Endpoint, bucket: str, size: int, reps: int, deadline: float) -> Figure:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{ep.host}:{ep.port}",
        aws_access_key_id=ep.access_key,
        aws_secret_access_key=ep.secret_key,
        region_name=ep.region,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=8),
    )
    transfer = TransferConfig(
        multipart_threshold=8 * MiB, multipart_chunksize=16 * MiB, max_concurrency=4
    )
    # Generated before the clock starts; distinct per run (the store deduplicates content).
    payload = os.urandom(size)
    samples: list[float] = []
    began = time.monotonic()
    for rep in range(reps):
        if time.monotonic() > deadline and samples:
            break
        body = io.BytesIO(payload[rep:] + payload[:rep])
        start = time.perf_counter()
        client.upload_fileobj(body, bucket, f"multipart/{rep}", Config=transfer)
        samples.append(size / (time.perf_counter() - start) / 1e6)
    etag = client.head_object(Bucket=bucket, Key="multipart/0")["ETag"]
    parts = size // (16 * MiB)
    note = "" if etag.strip('"').endswith(f"-{parts}") else f"unexpected ETag {etag}"
    samples.sort()
    return Figure(
        value=samples[len(samples) // 2],
        ops=len(samples),
        wall=time.monotonic() - began,
        samples=samples,
        note=note,
    )
