"""Strict, typed alexanderd configuration: load, validate and document it.

`load_config` reads a YAML file into a frozen `Config` (sizes in bytes, durations in seconds,
paths absolute, secrets read from their files) or raises `ConfigError` listing every problem.
"""

from alexanderd.config.errors import ConfigError
from alexanderd.config.loader import check_config, load_config, parse_config
from alexanderd.config.sample import render_sample
from alexanderd.config.schema import (
    AuthConfig,
    Config,
    DatabaseConfig,
    FilesystemConfig,
    GCConfig,
    LoggingConfig,
    MetricsConfig,
    MultipartConfig,
    RateLimitConfig,
    RedisConfig,
    ScrubConfig,
    ServerConfig,
    StorageConfig,
    TLSConfig,
)
from alexanderd.config.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "AuthConfig",
    "Config",
    "ConfigError",
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
    "check_config",
    "format_duration",
    "format_size",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "render_sample",
]
