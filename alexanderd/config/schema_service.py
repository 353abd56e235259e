"""Config keys of the network-facing service: listener, TLS, auth, metrics, rate limit, logs.

Part of the typed definition (see `schema`): each field's annotation is the whole truth about
that key (type, limits, units, docs); everything else is derived from it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from alexanderd.config.spec import (
    DURATION,
    IP_NETWORKS,
    LOWER,
    NONEMPTY,
    PATH,
    PORT,
    SECRET,
    SIZE,
    Section,
    hint,
)

_HEX_KEY = r"^[0-9a-fA-F]{64}$"
_HEX_KEY_HINT = hint(
    "must be exactly 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`"
)
_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = r"^(?=.{1,253}$)" + _DNS_LABEL + r"(\." + _DNS_LABEL + r")*$"


class TLSConfig(Section, frozen=True):
    """Built-in TLS. Most deployments terminate TLS in a reverse proxy instead (see the guide)."""

    enabled: Annotated[
        bool, Meta(description="Serve HTTPS directly; needs cert_file and key_file.")
    ] = False
    cert_file: (
        Annotated[
            str,
            PATH,
            Meta(
                min_length=1,
                description="PEM certificate chain (must exist and be readable when enabled).",
                examples=["/etc/alexanderd/tls.crt"],
            ),
        ]
        | None
    ) = None
    key_file: (
        Annotated[
            str,
            PATH,
            Meta(
                min_length=1,
                description="PEM private key for cert_file.",
                examples=["/etc/alexanderd/tls.key"],
            ),
        ]
        | None
    ) = None


class ServerConfig(Section, frozen=True):
    """The S3 listener and the supervisor's process tree."""

    host: Annotated[
        str,
        NONEMPTY,
        Meta(description="Address to bind; 0.0.0.0 or :: listens on every interface."),
    ] = "127.0.0.1"
    port: Annotated[int, PORT, Meta(description="S3 port; 0 picks a free port.")] = 8080
    domain: (
        Annotated[
            str,
            Meta(
                pattern=_DNS_NAME,
                description="Base domain for virtual-host requests (bucket.s3.example.com); "
                "unset means path-style only.",
                examples=["s3.example.com"],
            ),
            hint("must be a DNS name like s3.example.com, without scheme, port or path"),
        ]
        | None
    ) = None
    region: Annotated[
        str,
        Meta(
            pattern=r"^[a-z0-9][a-z0-9-]*$",
            description="Region in SigV4 credential scopes and GetBucketLocation replies.",
        ),
        hint("must be lowercase letters, digits and hyphens, like us-east-1"),
    ] = "us-east-1"
    user: (
        Annotated[
            str,
            NONEMPTY,
            Meta(
                description="Drop privileges to this user (name or uid) after binding; "
                "needs root to start.",
                examples=["alexander"],
            ),
        ]
        | None
    ) = None
    group: (
        Annotated[
            str,
            NONEMPTY,
            Meta(
                description="Group (name or gid) to switch to with `user`.",
                examples=["alexander"],
            ),
        ]
        | None
    ) = None
    runtime_dir: Annotated[
        str,
        PATH,
        Meta(min_length=1, description="Directory for the control socket and child sockets."),
    ] = "/run/alexanderd"
    runtime: Annotated[
        Literal["asyncio", "trio"],
        Meta(description="Async runtime of supervisor, fronts and blob workers (asyncio: faster)."),
    ] = "asyncio"
    fronts: Annotated[
        int, Meta(ge=1, le=64, description="Front HTTP processes sharing the listening socket.")
    ] = 1
    blob_workers: Annotated[
        int, Meta(ge=1, le=256, description="Blob I/O worker processes (hashing, disk I/O).")
    ] = 2
    shutdown_timeout: Annotated[
        float,
        DURATION,
        Meta(ge=0, description="On SIGTERM, how long in-flight requests may finish."),
    ] = 30.0
    heartbeat_interval: Annotated[
        float, DURATION, Meta(gt=0, description="How often each child reports it is alive.")
    ] = 1.0
    heartbeat_timeout: Annotated[
        float,
        DURATION,
        Meta(
            gt=0,
            description="A child silent this long is killed and restarted; "
            "must exceed heartbeat_interval.",
        ),
    ] = 10.0
    max_object_size: Annotated[
        int,
        SIZE,
        Meta(ge=1, description="Largest object accepted, by single PUT or multipart upload."),
    ] = 5 * 1024**4
    trusted_proxies: Annotated[
        list[str],
        IP_NETWORKS,
        Meta(
            description="Reverse proxies (IPs or CIDRs) whose X-Forwarded-For and "
            "X-Forwarded-Proto headers are believed.",
            examples=[["127.0.0.1", "10.0.0.0/8"]],
        ),
    ] = []
    tls: TLSConfig = TLSConfig()


class AuthConfig(Section, frozen=True):
    """Keys protecting stored credentials and encrypted objects, and anonymous access."""

    master_key: Annotated[
        str,
        SECRET,
        Meta(
            pattern=_HEX_KEY,
            description="Required. Encrypts stored secret access keys: 64 hex characters "
            "(openssl rand -hex 32). Give it as ${VAR} or through master_key_file.",
        ),
        _HEX_KEY_HINT,
    ]
    master_key_file: (
        Annotated[
            str,
            PATH,
            Meta(
                min_length=1,
                description="File holding the master key; use instead of master_key.",
                examples=["/etc/alexanderd/master.key"],
            ),
        ]
        | None
    ) = None
    sse_master_key: (
        Annotated[
            str,
            SECRET,
            Meta(
                pattern=_HEX_KEY,
                description="Key for server-side encryption (SSE-S3): 64 hex characters.",
                examples=["${ALEXANDER_SSE_MASTER_KEY}"],
            ),
            _HEX_KEY_HINT,
        ]
        | None
    ) = None
    sse_master_key_file: (
        Annotated[
            str,
            PATH,
            Meta(
                min_length=1,
                description="File holding the SSE master key; use instead of sse_master_key.",
                examples=["/etc/alexanderd/sse.key"],
            ),
        ]
        | None
    ) = None
    key_cache_ttl: Annotated[
        float,
        DURATION,
        Meta(ge=0, description="How long fronts cache access keys; revocation takes this long."),
    ] = 5.0
    allow_anonymous: Annotated[
        bool,
        Meta(description="Serve unsigned requests where a bucket ACL or policy allows them."),
    ] = True


class MetricsConfig(Section, frozen=True):
    """Prometheus exporter (keep it off the public network)."""

    enabled: Annotated[bool, Meta(description="Serve Prometheus metrics.")] = True
    host: Annotated[str, NONEMPTY, Meta(description="Address the exporter binds.")] = "127.0.0.1"
    port: Annotated[int, PORT, Meta(description="Exporter port; 0 picks a free port.")] = 9091
    path: Annotated[
        str, Meta(pattern=r"^/", description="URL path of the metrics."), hint("must start with /")
    ] = "/metrics"


class RateLimitConfig(Section, frozen=True):
    """Request rate limiting (token bucket; cluster-wide when Redis is enabled)."""

    enabled: Annotated[bool, Meta(description="Limit request rate.")] = False
    requests_per_second: Annotated[
        float, Meta(gt=0, description="Sustained requests per second.")
    ] = 1000.0
    burst_size: Annotated[int, Meta(ge=1, description="Requests allowed above the rate.")] = 2000


class LoggingConfig(Section, frozen=True):
    """Logs."""

    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        LOWER,
        Meta(description="Minimum level logged."),
    ] = "info"
    format: Annotated[
        Literal["json", "console"], Meta(description="json for machines, console for people.")
    ] = "json"
    file: (
        Annotated[
            str,
            PATH,
            Meta(
                min_length=1,
                description="Log file (reopened on SIGUSR1); unset logs to stderr.",
                examples=["/var/log/alexanderd/alexanderd.log"],
            ),
        ]
        | None
    ) = None
