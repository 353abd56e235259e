"""The PostgreSQL engine of the meta store: one asyncpg pool shared by every task, explicit
transactions with advisory and row locks so several nodes can share one database."""

from workers.meta.postgres.store import PostgresStore, open_postgres_store

__all__ = ["PostgresStore", "open_postgres_store"]
