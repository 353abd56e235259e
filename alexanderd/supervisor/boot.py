"""Each child's slice of config, as the boot message it receives on its socketpair.

Children never read config files: what they may know is decided here.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass

from alexanderd.config import Config
from protocol.lifecycle import (
    BootBlob,
    BootFront,
    BootMeta,
    DatabaseSettings,
    GCSettings,
    LogSettings,
    RedisSettings,
    ScrubSettings,
    TLSSettings,
)


@dataclass(frozen=True)
class RuntimePaths:
    runtime_dir: str

    @property
    def control(self) -> str:
        return os.path.join(self.runtime_dir, "control.sock")

    @property
    def meta(self) -> str:
        return os.path.join(self.runtime_dir, "meta.sock")

    def blob(self, index: int) -> str:
        return os.path.join(self.runtime_dir, f"blob-{index}.sock")

    @property
    def metrics_dir(self) -> str:
        return os.path.join(self.runtime_dir, "metrics")


def node_name(config: Config) -> str:
    """Stable per node: the host name, plus the runtime dir so that two daemons on one host
    (tests, or a migration) still name their temp files apart."""
    digest = hashlib.sha256(config.server.runtime_dir.encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"


def _log(config: Config) -> LogSettings:
    lc = config.logging
    return LogSettings(level=lc.level, format=lc.format, file=lc.file)


def database_path(config: Config) -> str:
    return config.database.path or os.path.join(config.storage.filesystem.base_path, "meta.db")


def redis_settings(config: Config) -> RedisSettings:
    rc = config.redis
    return RedisSettings(
        enabled=rc.enabled, host=rc.host, port=rc.port, password=rc.password, db=rc.db
    )


def meta_boot(config: Config, paths: RuntimePaths) -> BootMeta:
    db = config.database
    return BootMeta(
        socket_path=paths.meta,
        base_path=config.storage.filesystem.base_path,
        database=DatabaseSettings(
            driver=db.driver,
            path=database_path(config),
            journal_mode=db.journal_mode,
            busy_timeout=db.busy_timeout,
            cache_size=db.cache_size,
            synchronous_mode=db.synchronous_mode,
            host=db.host,
            port=db.port,
            name=db.name,
            user=db.user,
            password=db.password,
            sslmode=db.sslmode,
            pool_size=db.pool_size,
        ),
        master_key=config.auth.master_key,
        redis=redis_settings(config),
        gc=GCSettings(
            enabled=config.gc.enabled,
            interval=config.gc.interval,
            grace_period=config.gc.grace_period,
            batch_size=config.gc.batch_size,
            dry_run=config.gc.dry_run,
        ),
        scrub=ScrubSettings(enabled=config.scrub.enabled, interval=config.scrub.interval),
        fsync=config.storage.fsync,
        region=config.server.region,
        multipart_expiration=config.multipart.expiration,
        # The meta process owns the database drivers: asyncpg and redis-py are asyncio-only.
        runtime="asyncio",
        heartbeat_interval=config.server.heartbeat_interval,
        log=_log(config),
    )


def blob_boot(config: Config, paths: RuntimePaths, index: int) -> BootBlob:
    return BootBlob(
        index=index,
        socket_path=paths.blob(index),
        base_path=config.storage.filesystem.base_path,
        fsync=config.storage.fsync,
        runtime=config.server.runtime,
        heartbeat_interval=config.server.heartbeat_interval,
        log=_log(config),
        node=node_name(config),
    )


def front_boot(config: Config, paths: RuntimePaths, index: int, listen_fds: list[int]) -> BootFront:
    tls = config.server.tls
    rl = config.rate_limit
    return BootFront(
        index=index,
        listen_fds=listen_fds,
        meta_socket=paths.meta,
        blob_sockets=[paths.blob(i) for i in range(config.server.blob_workers)],
        blob_base_path=config.storage.filesystem.base_path,
        region=config.server.region,
        domain=config.server.domain,
        tls=TLSSettings(cert_file=tls.cert_file or "", key_file=tls.key_file or "")
        if tls.enabled
        else None,
        trusted_proxies=list(config.server.trusted_proxies),
        master_key=config.auth.master_key,
        runtime=config.server.runtime,
        shutdown_timeout=config.server.shutdown_timeout,
        max_object_size=config.server.max_object_size,
        key_cache_ttl=config.auth.key_cache_ttl,
        rate_limit_rps=rl.requests_per_second if rl.enabled else 0.0,
        rate_limit_burst=rl.burst_size if rl.enabled else 0,
        redis=redis_settings(config),
        heartbeat_interval=config.server.heartbeat_interval,
        log=_log(config),
    )
