"""systemd's readiness protocol (sd_notify(3)): tell the service manager we are ready, reloading,
stopping, alive (watchdog), or what we are doing (status).

Each message is one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET: a filesystem path, or
"@name" for the abstract namespace. Outside systemd the variable is unset and every call is a no-op.

Safe to call from the event loop: the socket is non-blocking, and a datagram to a Unix socket is
copied into the receiver's queue inside sendto(2) or refused at once (EAGAIN when systemd is not
keeping up), so the call never waits on the peer. Creating and closing the socket are cheap
syscalls that touch no disk.
"""

from __future__ import annotations

import os
import socket
import time

from protocol.logs import get_logger

log = get_logger(__name__)


def _address(value: str) -> str:
    if value.startswith("@") and len(value) > 1:
        # Linux abstract namespace: the name starts with a NUL byte instead of "@".
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    raise ValueError(
        f"NOTIFY_SOCKET={value!r} is neither a socket path nor an abstract @name "
        "(vsock addresses are not supported)"
    )


def notify(message: str) -> bool:
    """Send `message` (newline-separated VAR=value assignments) to systemd. True when sent; False
    when $NOTIFY_SOCKET is unset, or when it is unusable or the send failed (logged: a failed
    notification must not bring the daemon down; systemd acts on the missing message itself)."""
    if not message:
        raise ValueError("an sd_notify message must not be empty")
    value = os.environ.get("NOTIFY_SOCKET")
    if not value:
        return False
    try:
        address = _address(value)
    except ValueError as exc:
        log.error("cannot notify systemd", error=str(exc))
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        log.warning("cannot notify systemd", socket=value, message=message, error=str(exc))
        return False
    return True


def _status_line(text: str) -> str:
    # One assignment per line: a newline in the text would start a forged assignment.
    if "\n" in text or "\r" in text:
        raise ValueError(f"status text must be a single line: {text!r}")
    return f"STATUS={text}"


def ready(status: str = "") -> bool:
    """Startup (or a reload) is complete; with `status`, also what `systemctl status` shows."""
    lines = ["READY=1"]
    if status:
        lines.append(_status_line(status))
    return notify("\n".join(lines))


def reloading() -> bool:
    """A reload has begun; `ready()` must follow when it is done. MONOTONIC_USEC lets systemd
    match this message to the reload it requested (Type=notify-reload needs it)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")


def stopping() -> bool:
    """Shutdown has begun (draining); systemd shows the unit as deactivating."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """Keep-alive ping; send it at least every `watchdog_interval() / 2` seconds."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """Free-form one-line status shown by `systemctl status`."""
    return notify(_status_line(text))


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds (WatchdogSec=), or None when no watchdog is armed for
    this process. Ping at half of it so one late wake-up does not get the daemon killed."""
    usec_text = os.environ.get("WATCHDOG_USEC")
    if not usec_text:
        return None
    pid_text = os.environ.get("WATCHDOG_PID")
    if pid_text:
        try:
            pid = int(pid_text)
        except ValueError:
            raise ValueError(f"WATCHDOG_PID={pid_text!r} is not a process id") from None
        # The variables leaked from a parent (we are not the service's main process).
        if pid != os.getpid():
            return None
    try:
        usec = int(usec_text)
    except ValueError:
        raise ValueError(f"WATCHDOG_USEC={usec_text!r} is not a number of microseconds") from None
    if usec <= 0:
        raise ValueError(f"WATCHDOG_USEC={usec_text!r} must be positive")
    return usec / 1_000_000
