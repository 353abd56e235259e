"""Opening the asyncpg pool from `database.*`: settings checks, timeouts, TLS mode, and the
pool options that keep it safe behind PgBouncer in transaction-pooling mode."""

from __future__ import annotations

import asyncio
from typing import Literal

import asyncpg
from asyncpg import exceptions as pgerr

from protocol.errors import Unavailable
from protocol.lifecycle import DatabaseSettings

# A dead host must not hold a request for long; a slow statement (a lock wait behind a GC
# batch on a slow shared filesystem) may take a while, a hung server may not.
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 30.0
IDLE_LIFETIME = 120.0
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: dict[str, SslMode] = {
    "disable": "disable",
    "allow": "allow",
    "prefer": "prefer",
    "require": "require",
    "verify-ca": "verify-ca",
    "verify-full": "verify-full",
}


def check_settings(settings: DatabaseSettings) -> None:
    problems: list[str] = []
    if not settings.host:
        problems.append("database.host must not be empty")
    if not 1 <= settings.port <= 65535:
        problems.append(f"database.port must be 1..65535, got {settings.port}")
    if not settings.name:
        problems.append("database.name must not be empty")
    if not settings.user:
        problems.append("database.user must not be empty")
    if settings.sslmode not in SSL_MODES:
        problems.append(
            f"database.sslmode {settings.sslmode!r} is not one of {', '.join(SSL_MODES)}"
        )
    if settings.pool_size < 1:
        problems.append(f"database.pool_size must be at least 1, got {settings.pool_size}")
    if problems:
        raise ValueError("; ".join(problems))


def target(settings: DatabaseSettings) -> str:
    return f"{settings.host}:{settings.port}/{settings.name}"


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """The pool's reset hook. The default runs `pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` on every release, one more round trip per operation for state we
    never create (no session SET, LISTEN, cursor or session lock); an open transaction is
    still rolled back by the pool before this is called."""


def require_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "the postgres metadata engine needs the asyncio event loop (asyncpg); the meta"
            " process runs asyncio whenever database.driver is postgres"
        ) from None


async def open_pool(
    settings: DatabaseSettings, application_name: str
) -> asyncpg.Pool[asyncpg.Record]:
    """A pool of up to `pool_size` connections, one opened now so that an unreachable or
    misconfigured server fails the start with a clear message."""
    require_asyncio()
    check_settings(settings)
    try:
        return await asyncpg.create_pool(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password or None,
            database=settings.name,
            ssl=SSL_MODES[settings.sslmode],
            min_size=1,
            max_size=settings.pool_size,
            max_inactive_connection_lifetime=IDLE_LIFETIME,
            # PgBouncer in transaction mode cannot keep named prepared statements.
            statement_cache_size=0,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            # application_name is the one startup parameter PgBouncer passes on as is.
            server_settings={"application_name": application_name},
            reset=_keep_session,
        )
    except (
        OSError,
        TimeoutError,
        pgerr.PostgresConnectionError,
        pgerr.CannotConnectNowError,
        pgerr.TooManyConnectionsError,
    ) as exc:
        raise Unavailable(
            f"cannot connect to PostgreSQL at {target(settings)}: {type(exc).__name__}: {exc}"
        ) from exc
