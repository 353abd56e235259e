"""The SQLite engine of the meta store: one group-commit writer thread, a pool of WAL readers."""

from workers.meta.sqlite.store import SqliteStore, open_sqlite_store

__all__ = ["SqliteStore", "open_sqlite_store"]
