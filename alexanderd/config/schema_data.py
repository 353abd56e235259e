"""Config keys of the data path: metadata database, Redis, blob storage and their upkeep.

Part of the typed definition (see `schema`): each field's annotation is the whole truth about
that key (type, limits, units, docs); everything else is derived from it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from alexanderd.config.spec import (
    DURATION,
    MILLIS,
    NONEMPTY,
    PATH,
    POSTGRES_ONLY,
    REMOTE_PORT,
    SECRET,
    SIZE,
    SQLITE_ONLY,
    UPPER,
    Section,
)


class DatabaseConfig(Section, frozen=True):
    """Metadata database: SQLite for one node, PostgreSQL when several nodes share it."""

    driver: Annotated[
        Literal["sqlite", "postgres"],
        Meta(description="sqlite (single node) or postgres (required for several nodes)."),
    ] = "sqlite"
    path: Annotated[
        str,
        SQLITE_ONLY,
        PATH,
        Meta(
            description="sqlite: database file; empty means <storage.filesystem.base_path>/meta.db."
        ),
    ] = ""
    journal_mode: Annotated[
        Literal["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY"],
        SQLITE_ONLY,
        UPPER,
        Meta(description="sqlite: journal mode; WAL lets listings run while a write commits."),
    ] = "WAL"
    busy_timeout: Annotated[
        int,
        SQLITE_ONLY,
        MILLIS,
        Meta(ge=0, description="sqlite: milliseconds to wait on a lock (or a duration: 5s)."),
    ] = 5000
    cache_size: Annotated[
        int,
        SQLITE_ONLY,
        Meta(description="sqlite: page cache; negative is KiB (-8000 = 8 MB), positive pages."),
    ] = -8000
    synchronous_mode: Annotated[
        Literal["OFF", "NORMAL", "FULL", "EXTRA"],
        SQLITE_ONLY,
        UPPER,
        Meta(
            description="sqlite: FULL syncs every commit; NORMAL syncs less often; "
            "OFF can lose acknowledged writes on power loss."
        ),
    ] = "FULL"
    host: Annotated[
        str, POSTGRES_ONLY, NONEMPTY, Meta(description="postgres: server host name.")
    ] = "127.0.0.1"
    port: Annotated[int, POSTGRES_ONLY, REMOTE_PORT, Meta(description="postgres: server port.")] = (
        5432
    )
    name: Annotated[str, POSTGRES_ONLY, NONEMPTY, Meta(description="postgres: database name.")] = (
        "alexander"
    )
    user: Annotated[
        str, POSTGRES_ONLY, NONEMPTY, Meta(description="postgres: role to log in as.")
    ] = "alexander"
    password: Annotated[
        str,
        POSTGRES_ONLY,
        SECRET,
        Meta(description="postgres: password; better via ${VAR} or password_file."),
    ] = ""
    password_file: (
        Annotated[
            str,
            PATH,
            POSTGRES_ONLY,
            Meta(
                min_length=1,
                description="postgres: file holding the password (surrounding whitespace "
                "stripped); use instead of password.",
                examples=["/etc/alexanderd/postgres.password"],
            ),
        ]
        | None
    ) = None
    sslmode: Annotated[
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        POSTGRES_ONLY,
        Meta(description="postgres: TLS to the server, as libpq's sslmode."),
    ] = "prefer"
    pool_size: Annotated[
        int,
        POSTGRES_ONLY,
        Meta(ge=1, le=1000, description="postgres: connections the meta process keeps."),
    ] = 10


class RedisConfig(Section, frozen=True):
    """Redis for caching, cluster-wide rate limits and locks; optional even with several nodes."""

    enabled: Annotated[bool, Meta(description="Use Redis; without it each node works alone.")] = (
        False
    )
    host: Annotated[str, NONEMPTY, Meta(description="Redis host name.")] = "127.0.0.1"
    port: Annotated[int, REMOTE_PORT, Meta(description="Redis port.")] = 6379
    password: Annotated[
        str, SECRET, Meta(description="Redis password; better via ${VAR} or password_file.")
    ] = ""
    password_file: (
        Annotated[
            str,
            PATH,
            Meta(
                min_length=1,
                description="File holding the Redis password; use instead of password.",
                examples=["/etc/alexanderd/redis.password"],
            ),
        ]
        | None
    ) = None
    db: Annotated[int, Meta(ge=0, le=15, description="Redis database number.")] = 0


class FilesystemConfig(Section, frozen=True):
    """Where blobs live."""

    base_path: Annotated[
        str,
        PATH,
        Meta(
            min_length=1,
            description="Data directory: blobs/, tmp/, quarantine/ and (sqlite) meta.db. "
            "Shared by every node in distributed mode.",
            examples=["/var/lib/alexanderd"],
        ),
    ]


class StorageConfig(Section, frozen=True):
    """Blob storage."""

    filesystem: FilesystemConfig
    fsync: Annotated[
        bool,
        Meta(
            description="fsync each blob and its directory before acknowledging a write. "
            "WARNING: false is for benchmarks; a power loss then loses acknowledged objects."
        ),
    ] = True
    inline_threshold: Annotated[
        int,
        SIZE,
        Meta(ge=0, description="Objects up to this size live in the metadata DB; 0 disables."),
    ] = 0


class GCConfig(Section, frozen=True):
    """Garbage collection of blobs no object references any more."""

    enabled: Annotated[bool, Meta(description="Run garbage collection.")] = True
    interval: Annotated[float, DURATION, Meta(gt=0, description="Time between GC runs.")] = 3600.0
    grace_period: Annotated[
        float,
        DURATION,
        Meta(ge=0, description="A blob must be unreferenced this long before deletion."),
    ] = 86400.0
    batch_size: Annotated[
        int, Meta(ge=1, le=100000, description="Blobs deleted per transaction.")
    ] = 1000
    dry_run: Annotated[bool, Meta(description="Only report what GC would delete.")] = False


class ScrubConfig(Section, frozen=True):
    """Scrub: re-hash blobs against their content address to find bitrot."""

    enabled: Annotated[bool, Meta(description="Run the scrubber.")] = False
    interval: Annotated[float, DURATION, Meta(gt=0, description="Time between scrub passes.")] = (
        604800.0
    )


class MultipartConfig(Section, frozen=True):
    """Multipart uploads."""

    expiration: Annotated[
        float,
        DURATION,
        Meta(gt=0, description="Incomplete uploads older than this are aborted and collected."),
    ] = 604800.0
