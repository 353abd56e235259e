"""Fixtures shared by every test package: reachability of the PostgreSQL and Redis servers.

Under CI=true a test that needs one of them fails when it is unreachable; elsewhere it is
skipped with the reason (a developer without the services can still run the rest).
"""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: tests needing it must not skip)")
    pytest.skip(message)


@pytest.fixture()
def redis_server() -> tuple[str, int]:
    require_service("Redis", "127.0.0.1", 6379)
    return "127.0.0.1", 6379


@pytest.fixture()
def postgres_server() -> tuple[str, int]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return "127.0.0.1", 5432
