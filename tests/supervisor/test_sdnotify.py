"""sd_notify over real AF_UNIX datagram sockets, bound on a path and in the abstract namespace."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alexanderd.supervisor import sdnotify


@pytest.fixture
def path_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = str(tmp_path / "notify.sock")
    assert len(path) < 108, "AF_UNIX paths are limited to 107 bytes"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        yield sock


@pytest.fixture
def abstract_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    name = f"alexanderd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        yield sock


def receive(sock: socket.socket) -> str:
    # The datagram is queued before notify() returns: a non-blocking read finds it or it is lost.
    sock.setblocking(False)
    return sock.recv(4096).decode()


def test_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready("up") is False
    assert sdnotify.watchdog() is False


def test_messages_to_a_path_socket(path_socket: socket.socket) -> None:
    assert sdnotify.ready("serving S3 on 0.0.0.0:8080") is True
    assert receive(path_socket) == "READY=1\nSTATUS=serving S3 on 0.0.0.0:8080"
    assert sdnotify.ready() is True
    assert receive(path_socket) == "READY=1"
    assert sdnotify.stopping() is True
    assert receive(path_socket) == "STOPPING=1"
    assert sdnotify.watchdog() is True
    assert receive(path_socket) == "WATCHDOG=1"
    assert sdnotify.status("draining 3 requests") is True
    assert receive(path_socket) == "STATUS=draining 3 requests"


def test_messages_to_an_abstract_socket(abstract_socket: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = receive(abstract_socket).split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= after
    assert sdnotify.notify("EXTEND_TIMEOUT_USEC=5000000") is True
    assert receive(abstract_socket) == "EXTEND_TIMEOUT_USEC=5000000"


def test_status_text_cannot_smuggle_assignments(path_socket: socket.socket) -> None:
    with pytest.raises(ValueError, match="single line"):
        sdnotify.status("ok\nREADY=1")
    with pytest.raises(ValueError, match="must not be empty"):
        sdnotify.notify("")


def test_a_full_queue_fails_at_once_instead_of_blocking(path_socket: socket.socket) -> None:
    # Nobody reads: the kernel queue fills up and a blocking send would hang the event loop here.
    sent = 0
    while sdnotify.watchdog():
        sent += 1
        assert sent < 100_000, "the queue never filled up"
    assert sent > 0


def test_unreachable_or_unsupported_socket_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert sdnotify.ready() is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() is None

    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 30.0
    # Inherited from the service's main process: the watchdog is not ours to feed.
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None


@pytest.mark.parametrize(
    ("usec", "pid", "message"),
    [
        ("soon", None, "WATCHDOG_USEC='soon' is not a number"),
        ("0", None, "must be positive"),
        ("1000", "me", "WATCHDOG_PID='me' is not a process id"),
    ],
)
def test_watchdog_interval_rejects_garbage(
    monkeypatch: pytest.MonkeyPatch, usec: str, pid: str | None, message: str
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", pid)
    with pytest.raises(ValueError, match=message):
        sdnotify.watchdog_interval()
