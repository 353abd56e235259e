"""The typed definition of every alexanderd config key, rooted at `Config`.

A key is declared exactly once, as an annotated field of a frozen msgspec Struct here or in
`schema_service` / `schema_data`. Validation, env overrides and the sample files in conf/ are
all derived from these Structs, so adding a key there is the whole job. Loaded values are
already converted: sizes are int bytes, durations float seconds, paths absolute.
"""

from __future__ import annotations

from alexanderd.config.schema_data import (
    DatabaseConfig,
    FilesystemConfig,
    GCConfig,
    MultipartConfig,
    RedisConfig,
    ScrubConfig,
    StorageConfig,
)
from alexanderd.config.schema_service import (
    AuthConfig,
    LoggingConfig,
    MetricsConfig,
    RateLimitConfig,
    ServerConfig,
    TLSConfig,
)
from alexanderd.config.spec import Section


class Config(Section, frozen=True, kw_only=True):
    """The whole alexanderd configuration."""

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    storage: StorageConfig
    auth: AuthConfig
    metrics: MetricsConfig = MetricsConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    gc: GCConfig = GCConfig()
    scrub: ScrubConfig = ScrubConfig()
    multipart: MultipartConfig = MultipartConfig()
    logging: LoggingConfig = LoggingConfig()


__all__ = [
    "AuthConfig",
    "Config",
    "DatabaseConfig",
    "FilesystemConfig",
    "GCConfig",
    "LoggingConfig",
    "MetricsConfig",
    "MultipartConfig",
    "RateLimitConfig",
    "RedisConfig",
    "ScrubConfig",
    "ServerConfig",
    "StorageConfig",
    "TLSConfig",
]
