"""Fixtures that start the real daemon (one per module) and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.e2e.daemon import Daemon


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    d = Daemon()
    d.start()
    d.create_key()
    try:
        yield d
    finally:
        d.cleanup()


def s3_client(d: Daemon, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=d.endpoint,
        aws_access_key_id=d.access_key,
        aws_secret_access_key=d.secret_key,
        region_name="us-east-1",
        config=BotoConfig(**{"retries": {"max_attempts": 2, "mode": "standard"}, **config}),
        verify=False,
    )


@pytest.fixture(scope="module")
def s3(daemon: Daemon) -> Any:
    return s3_client(daemon, s3={"addressing_style": "path"})
