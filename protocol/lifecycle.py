"""Supervisor <-> child messages on the inherited boot socketpair.

The supervisor sends exactly one Boot* message; the child answers Ready (or BootFailed)
and then sends Heartbeat every `heartbeat_interval` seconds until it exits.
"""

from __future__ import annotations

import msgspec

from protocol.base import Message


# Slices of config inside boot messages: frozen, so that defaults can be shared.
class LogSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    level: str = "info"
    format: str = "json"
    file: str | None = None


class BootBlob(Message):
    index: int
    socket_path: str
    base_path: str
    fsync: bool = True
    runtime: str = "asyncio"
    heartbeat_interval: float = 1.0
    log: LogSettings = LogSettings()
    # Names this node's temp files so that nodes sharing one blob directory never remove
    # each other's uploads in progress.
    node: str = ""


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    driver: str = "sqlite"
    path: str = ""
    journal_mode: str = "WAL"
    busy_timeout: int = 5000
    cache_size: int = -8000
    synchronous_mode: str = "FULL"
    host: str = "127.0.0.1"
    port: int = 5432
    name: str = "alexander"
    user: str = "alexander"
    password: str = ""
    sslmode: str = "prefer"
    pool_size: int = 10


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 6379
    password: str = ""
    db: int = 0


class GCSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    enabled: bool = True
    interval: float = 3600.0
    grace_period: float = 86400.0
    batch_size: int = 1000
    dry_run: bool = False


class ScrubSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    enabled: bool = False
    interval: float = 7 * 86400.0


class BootMeta(Message):
    socket_path: str
    base_path: str
    database: DatabaseSettings
    master_key: str
    redis: RedisSettings = RedisSettings()
    gc: GCSettings = GCSettings()
    scrub: ScrubSettings = ScrubSettings()
    fsync: bool = True
    region: str = "us-east-1"
    # Incomplete multipart uploads older than this are aborted by GC (multipart.expiration).
    multipart_expiration: float = 7 * 86400.0
    runtime: str = "asyncio"
    heartbeat_interval: float = 1.0
    log: LogSettings = LogSettings()


class TLSSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    cert_file: str
    key_file: str


class BootFront(Message):
    index: int
    listen_fds: list[int]
    meta_socket: str
    blob_sockets: list[str]
    # The blob store's base path: fronts read stored blobs straight from it (GET).
    blob_base_path: str = ""
    region: str = "us-east-1"
    domain: str | None = None
    tls: TLSSettings | None = None
    trusted_proxies: list[str] = []
    master_key: str = ""
    runtime: str = "asyncio"
    shutdown_timeout: float = 30.0
    max_object_size: int = 5 * 1024**4
    key_cache_ttl: float = 5.0
    rate_limit_rps: float = 0.0
    rate_limit_burst: int = 0
    # Shared rate-limit counters across nodes when enabled (local buckets otherwise).
    redis: RedisSettings = RedisSettings()
    heartbeat_interval: float = 1.0
    log: LogSettings = LogSettings()


class Ready(Message):
    role: str
    pid: int
    address: str = ""


class BootFailed(Message):
    role: str
    reason: str


class Heartbeat(Message):
    seq: int
    in_flight: int = 0


class Stop(Message):
    """Ask a child to drain and exit within `deadline` seconds."""

    deadline: float = 30.0
